"""The academy service: sessions, grading, leaderboards, self-training, A/B
tests and evolution, on NATS (``cmd.academy.<op>``) and the academy log.

Handlers validate, append events and answer; long work (a persona sitting a
session, training, A/B tests, evolution) runs in background tasks whose
every step is an event, so a restarted academy picks each one up where the
log says it stopped: a session's persona attempts the exercises it has not
attempted yet, a training job resumes from its checkpoint, an evolution
run from its last completed generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from continuum.contracts import command
from continuum.events.academy import (
    AttemptScored,
    AttemptSubmitted,
    ExerciseIssued,
    SessionClosed,
    SessionCreated,
    SessionStarted,
)
from continuum.events.persona import GenomeLayerRef
from continuum.games.record import GameBook
from continuum.genome import LayerCatalog, LayerError
from continuum.genome.blobs import LayerBlobs
from continuum.genome.refs import parse_layer_spec
from continuum.runtime import RequestError, Service, ServiceContext
from continuum.runtime.commands import as_object
from continuum.runtime.follow import LogFollower
from continuum.runtime.requests import ServiceRequestError
from continuum.store import ConcurrencyError
from continuum.store.base import StoredEvent
from continuum_academy import games, jobs, params, views
from continuum_academy.code import commands as code_commands
from continuum_academy.code.book import CodeBook
from continuum_academy.curriculum import Curriculum
from continuum_academy.graders import grade
from continuum_academy.lab.model import Lab
from continuum_academy.leaderboard import standings
from continuum_academy.reputation import (
    ScoreRow,
    reputations,
    results_by_exercise,
    weighted_scores,
)
from continuum_academy.runs import RunBook
from continuum_academy.sandbox import SandboxLimits, isolation_in_use
from continuum_academy.scores import SCHEMA, ScoresProjection, load_scores
from continuum_academy.sessions import SessionBook, SessionError, SessionState
from continuum_academy.settings import AcademySettings
from continuum_academy.skills import SPLITS, SkillError, draw
from continuum_academy.workshop import Workshop
from continuum_lm.settings import ModelSettings

log = logging.getLogger("continuum.academy")


class AcademyService(Service):
    name = "academy"
    description = "Academy: sessions, graders, leaderboards, self-training, A/B tests, evolution"
    schema = SCHEMA

    def __init__(self) -> None:
        self.settings = AcademySettings()
        self.book = SessionBook()
        self.runs = RunBook()
        self.catalog = LayerCatalog()
        self.games = GameBook()
        self.code = CodeBook()
        self._followers: list[LogFollower] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running: set[str] = set()
        self._lab: Lab | None = None
        self._lab_lock = asyncio.Lock()

    def projections(self) -> tuple[ScoresProjection]:
        return (ScoresProjection(),)

    # -- start / stop -----------------------------------------------------------------

    async def on_start(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        s = self.settings
        home = ctx.settings.home
        self.work_dir = Path(s.work_dir) if s.work_dir else home / "academy"
        skills_dir = Path(s.skills_dir) if s.skills_dir else self.work_dir / "skills"
        try:  # created on first start, so a user knows where skill files go
            skills_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.warning("academy: cannot create the skills directory %s: %s", skills_dir, exc)
        self.curriculum = Curriculum.load(skills_dir)
        self.limits = SandboxLimits(
            cpu_seconds=s.sandbox_cpu_seconds,
            wall_seconds=s.sandbox_wall_seconds,
            memory_bytes=s.sandbox_memory_mb * 1024 * 1024,
            isolation=s.sandbox_isolation,
            hidden_paths=(str(home),),  # the node's keys and data, out of an attempt's sight
        )
        self.code_limits = SandboxLimits(
            cpu_seconds=s.code_tests_cpu_seconds,
            wall_seconds=s.code_tests_wall_seconds,
            memory_bytes=s.code_tests_memory_mb * 1024 * 1024,
            file_bytes=64 * 1024 * 1024,
            output_bytes=64 * 1024,
            isolation=s.sandbox_isolation,
            hidden_paths=(str(home),),
        )
        isolation = await asyncio.to_thread(isolation_in_use, s.sandbox_isolation)
        log.info("academy: code attempts run with %s", isolation)
        self.model_dir = ModelSettings().builtin_model_dir(home)

        async def request(subject: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
            return await ctx.request(subject, body, timeout=timeout)

        self.workshop = Workshop(
            self.catalog,
            LayerBlobs(ctx.nc.jetstream()),
            ctx.identity.signing_key,
            request,
            cache_bytes=s.layer_cache_mb * 1024 * 1024,
        )
        genome = ctx.follower("EVT_GENOME", "evt.genome.>", self._on_genome)
        academy = ctx.follower("EVT_ACADEMY", "evt.academy.>", self._on_academy)
        self._academy_log = academy
        self._followers = [genome, academy]
        for follower in self._followers:
            await follower.start()
            await follower.caught_up()
        await self._register_endpoints(ctx)
        self._resume()
        for proposal in self.code.untested():  # tests a restart interrupted run again
            code_commands.test(self, proposal.proposal_id)

    async def on_stop(self, ctx: ServiceContext) -> None:
        for task in list(self._tasks):
            task.cancel()
        for follower in self._followers:
            await follower.stop()

    def spawn_task(self, key: str, coro: Any) -> None:
        """Run ``coro`` in the background, once per key at a time."""
        self._spawn(key, coro)

    def _spawn(self, key: str, coro: Any) -> None:
        if key in self._running:
            coro.close()
            return
        self._running.add(key)
        task = asyncio.create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            self._running.discard(key)
            if not t.cancelled() and t.exception() is not None:
                log.error("academy: %s failed: %s", key, t.exception())

        task.add_done_callback(done)

    def _resume(self) -> None:
        for state in self.book.sessions.values():
            if state.started and state.closed is None:
                self._spawn(f"session:{state.session_id}", self._sit(state.session_id))
        for job in self.runs.training.values():
            if job.status == "running":
                self._spawn(f"training:{job.job_id}", jobs.self_train(self, job.job_id))
        for test in self.runs.abtests.values():
            if test.status == "running":
                self._spawn(f"abtest:{test.test_id}", jobs.ab_test(self, test.test_id))
        for run in self.runs.evolutions.values():
            if run.status == "running":
                self._spawn(f"evolution:{run.run_id}", jobs.evolve(self, run.run_id))

    async def _on_genome(self, stored: StoredEvent, live: bool) -> None:
        self.catalog.apply(stored.event.envelope.subject, stored.event.payload, stored.seq)

    async def _on_academy(self, stored: StoredEvent, live: bool) -> None:
        envelope = stored.event.envelope
        run_id = envelope.subject  # the aggregate id
        aggregate = envelope.type.split(".")[2]  # continuum.academy.<aggregate>.<name>.vN
        payload = stored.event.payload
        if aggregate == "session":
            self.book.apply(run_id, payload, stored.seq)
        elif aggregate == "game":
            self.games.apply(run_id, payload, stored.seq)
        elif aggregate in ("workspace", "proposal"):
            self.code.apply(aggregate, run_id, payload, stored.seq)
        else:
            self.runs.apply(aggregate, run_id, payload)

    async def append(self, aggregate_id: str, events: list[Any], expected: int | None) -> int:
        result = await self.ctx.store.append(
            [self.ctx.factory.new(e, aggregate_id) for e in events], expected
        )
        await self._academy_log.reached(result.version)
        return result.version

    async def caught_up_to(self, version: int | None) -> None:
        """Until the read model holds the log up to ``version`` (None: a moment)."""
        if version is not None:
            await self._academy_log.reached(version)
        else:
            await asyncio.sleep(0.05)

    async def decide(
        self, session_id: str, decide: Callable[[SessionState], list[Any]]
    ) -> tuple[SessionState, list[Any]]:
        """Optimistic concurrency on a session: ``decide`` reads its state (or
        refuses with a RequestError) and the events it returns go in at that
        state's version. When another write won meanwhile (a judge's verdict,
        an attempt), wait until the read model holds it and decide again, so
        a retry never spins on the same stale version."""
        for _ in range(5):
            state = self._session(session_id)
            events = decide(state)
            if not events:
                return state, events
            try:
                await self.append(session_id, events, state.version)
                return state, events
            except ConcurrencyError as conflict:
                if conflict.actual is not None:
                    await self._academy_log.reached(conflict.actual)
                else:
                    await asyncio.sleep(0.05)
        raise RequestError("the session is busy; retry", 409)

    async def lab(self) -> Lab:
        """The base model, loaded on first use (persona-runtime builds it on first start)."""
        async with self._lab_lock:
            if self._lab is None:
                for _ in range(600):
                    if (self.model_dir / "config.json").exists():
                        break
                    await asyncio.sleep(1)
                else:
                    raise RequestError(f"no model at {self.model_dir}", 503)
                self._lab = await asyncio.to_thread(
                    Lab, self.model_dir, self.settings.threads or None
                )
            return self._lab

    async def persona(self, key: str) -> dict[str, Any]:
        try:
            return await self.ctx.request("cmd.persona-runtime.show", {"persona": key})
        except ServiceRequestError as exc:  # unknown persona (404), or nobody answers (503)
            raise RequestError(exc.message, exc.code) from None

    # -- sessions ---------------------------------------------------------------------

    async def _sit(self, session_id: str) -> None:
        """The session's persona attempts every exercise it has not attempted yet."""
        state = self.book.get(session_id)
        persona = state.created.persona_id
        for exercise in list(state.exercises.values()):
            if exercise.exercise_id in state.attempts_of(persona) or state.closed is not None:
                continue
            body = {
                "persona": persona,
                "session": session_id,
                "exercise": exercise.exercise_id,
                "prompt": exercise.prompt,
                "rubric": exercise.rubric,
                "examples": exercise.examples,
            }
            try:
                await self.ctx.request(
                    "cmd.persona-runtime.attempt",
                    body,
                    timeout=self.settings.attempt_timeout,
                )
            except Exception as exc:
                if exercise.exercise_id in self.book.get(session_id).attempts_of(persona):
                    continue  # it arrived after all
                log.warning(
                    "academy: %s could not attempt %s: %s", persona, exercise.exercise_id, exc
                )
                return  # resumed on the next start, or by `session start` again
        await self._close_if_done(session_id)

    async def _close_if_done(self, session_id: str) -> None:
        state = self.book.get(session_id)
        if (
            state.closed is None
            and state.started
            and len(state.attempts_of(state.created.persona_id)) >= len(state.exercises)
        ):
            # On a conflict someone else closed it or wrote meanwhile; the next attempt retries.
            with contextlib.suppress(ConcurrencyError):
                await self.append(session_id, [SessionClosed(reason="complete")], state.version)

    async def submit(self, body: dict[str, Any]) -> dict[str, Any]:
        session_id, exercise_id = params.text(body, "session"), params.text(body, "exercise")
        text = body.get("text")
        if not isinstance(text, str) or len(text) > 20000:
            raise RequestError("text must be a string of at most 20000 characters")
        submitter = body.get("submitter", "human")
        if submitter not in ("persona", "human", "tool"):
            raise RequestError("submitter must be persona, human or tool")
        contestant = params.text(body, "contestant", "")[:128]
        genome = []
        for item in body.get("genome") or []:
            try:
                genome.append(GenomeLayerRef.model_validate(item))
            except Exception:
                raise RequestError("genome must be a list of layer references") from None

        def attempted(state: SessionState) -> list[Any]:
            self._checked(state, exercise_id, contestant)
            return [
                AttemptSubmitted(
                    attempt_id=uuid.uuid4().hex[:16],
                    exercise_id=exercise_id,
                    submitter=submitter,
                    contestant=contestant,
                    text=text,
                    genome=genome,
                )
            ]

        state, (attempt,) = await self.decide(session_id, attempted)
        exercise = state.exercises[exercise_id]
        verdict = await asyncio.to_thread(
            grade, exercise.grader, exercise.answer, text, self.limits
        )
        score = AttemptScored(
            attempt_id=attempt.attempt_id,
            source="grader",
            grader=str(exercise.grader.get("kind", "grader")),
            score=verdict.score,
            passed=verdict.passed,
            detail=verdict.detail,
        )
        await self.append(session_id, [score], None)
        if state.created.judge_persona:
            self._spawn(
                f"judge:{attempt.attempt_id}",
                self._judge(session_id, exercise, attempt, state.created.judge_persona),
            )
        await self._close_if_done(session_id)
        return {
            "attempt_id": attempt.attempt_id,
            "session": session_id,
            "exercise": exercise_id,
            "contestant": contestant,
            "score": verdict.score,
            "passed": verdict.passed,
            "detail": verdict.detail,
        }

    def _session(self, session_id: str) -> SessionState:
        try:
            return self.book.get(session_id)
        except SessionError as exc:
            raise RequestError(str(exc), exc.status) from None

    def _checked(self, state: SessionState, exercise_id: str, contestant: str) -> ExerciseIssued:
        try:
            return state.check_attempt(exercise_id, contestant)
        except SessionError as exc:
            raise RequestError(str(exc), exc.status) from None

    async def _judge(
        self, session_id: str, exercise: ExerciseIssued, attempt: AttemptSubmitted, judge: str
    ) -> None:
        """An AI judge: a persona reads the exercise, rubric and answer and says yes or no."""
        prompt = (
            f"Exercise: {exercise.prompt}\nRubric: {exercise.rubric or 'a correct answer'}\n"
            f"Answer: {attempt.text[:2000]}\nIs the answer correct? Reply yes or no."
        )
        reply = await self.ctx.request(
            "cmd.persona-runtime.generate",
            {"persona": judge, "prompt": prompt, "max_tokens": 8},
            timeout=self.settings.attempt_timeout,
        )
        verdict = str(reply.get("text", "")).strip()
        passed = verdict.lower().lstrip(" \"'*").startswith("yes")
        await self.append(
            session_id,
            [
                AttemptScored(
                    attempt_id=attempt.attempt_id,
                    source="ai_judge",
                    grader=f"ai-judge:{judge}"[:160],
                    score=1.0 if passed else 0.0,
                    passed=passed,
                    detail=verdict[:500] or "(no verdict)",
                )
            ],
            None,
        )

    # -- endpoints --------------------------------------------------------------------

    async def _register_endpoints(self, ctx: ServiceContext) -> None:
        async def skills(_: dict[str, Any]) -> dict[str, Any]:
            self.curriculum.refresh()
            return views.skills(self.curriculum)

        async def reload(_: dict[str, Any]) -> dict[str, Any]:
            report = self.curriculum.reload()
            return {**views.skills(self.curriculum), **views.reload(report)}

        async def install(body: dict[str, Any]) -> dict[str, Any]:
            text = params.text(body, "yaml")
            where = str(body.get("filename") or "the skill file")
            try:
                skill, report = await asyncio.to_thread(self.curriculum.install, text, where)
            except SkillError as exc:
                raise RequestError(str(exc)) from None
            listed = views.skills(self.curriculum)
            (item,) = [s for s in listed["skills"] if s["name"] == skill.name]
            return {"skill": item, **views.reload(report)}

        async def create(body: dict[str, Any]) -> dict[str, Any]:
            persona = await self.persona(params.text(body, "persona"))
            try:
                skill = self.curriculum.get(params.text(body, "skill"))
            except SkillError as exc:
                raise RequestError(str(exc), 404) from None
            count = params.integer(body, "exercises", 10, 1, self.settings.max_exercises)
            split = body.get("split", "heldout")
            if split not in SPLITS:
                raise RequestError("split must be train or heldout")
            seed = params.integer(body, "seed", random.randrange(2**31), 0, 2**31)
            judge = body.get("judge") or ""
            if judge:
                judge = (await self.persona(str(judge)))["id"]
            try:
                exercises = draw(skill, split, count, seed)
            except SkillError as exc:
                raise RequestError(str(exc)) from None
            session_id = uuid.uuid4().hex[:12]
            events: list[Any] = [
                SessionCreated(
                    persona_id=persona["id"],
                    skill=skill.name,
                    split=split,
                    exercises=count,
                    seed=seed,
                    created_by=str(body.get("created_by", ""))[:128],
                    judge_persona=judge,
                )
            ]
            for index, exercise in enumerate(exercises, start=1):
                events.append(
                    ExerciseIssued(
                        exercise_id=f"e{index}",
                        key=exercise.exercise_key,
                        prompt=exercise.prompt,
                        rubric=exercise.rubric,
                        grader=exercise.grader,
                        answer=exercise.answer,
                        examples=[list(e) for e in exercise.examples],
                    )
                )
            await self.append(session_id, events, 0)
            return views.session(self.book.get(session_id))

        async def start(body: dict[str, Any]) -> dict[str, Any]:
            def started(state: SessionState) -> list[Any]:
                if state.closed is not None:
                    raise RequestError(f"session {state.session_id} is closed", 409)
                if state.started:
                    return []
                return [SessionStarted(started_by=str(body.get("by", ""))[:128])]

            # Judges' verdicts and attempts land on the session at any time.
            state, _ = await self.decide(params.text(body, "session"), started)
            self._spawn(f"session:{state.session_id}", self._sit(state.session_id))
            return views.session(self.book.get(state.session_id))

        async def submit(body: dict[str, Any]) -> dict[str, Any]:
            return await self.submit(body)

        async def rate(body: dict[str, Any]) -> dict[str, Any]:
            attempt_id, rater = (
                params.text(body, "attempt"),
                params.text(body, "rater", "human")[:120],
            )
            rating = body.get("rating")
            if rating in ("up", "down"):
                score = 1.0 if rating == "up" else 0.0
            elif isinstance(rating, int) and not isinstance(rating, bool) and 1 <= rating <= 5:
                score = (rating - 1) / 4
            else:
                raise RequestError("rating must be up, down or an integer from 1 to 5")
            try:
                state, _ = self.book.find_attempt(attempt_id)
            except SessionError as exc:
                raise RequestError(str(exc), exc.status) from None
            event = AttemptScored(
                attempt_id=attempt_id,
                source="human",
                grader=f"human:{rater}",
                score=score,
                passed=score >= 0.5,
                detail=f"rated {rating}",
            )
            await self.append(state.session_id, [event], None)
            return {"attempt_id": attempt_id, "grader": event.grader, "score": score}

        async def close(body: dict[str, Any]) -> dict[str, Any]:
            state = self._session(params.text(body, "session"))
            if state.closed is None:
                await self.append(
                    state.session_id, [SessionClosed(reason="closed by request")], None
                )
            return views.session(self.book.get(state.session_id))

        async def sessions(body: dict[str, Any]) -> dict[str, Any]:
            return {"sessions": [s.summary() for s in self.book.sessions.values()]}

        async def show(body: dict[str, Any]) -> dict[str, Any]:
            return views.session(self._session(params.text(body, "session")), detail=True)

        async def leaderboard(body: dict[str, Any]) -> dict[str, Any]:
            skill = params.text(body, "skill")
            samples = params.integer(body, "bootstrap", 200, 0, 2000)
            async with ctx.pool.acquire() as conn:
                records = await load_scores(conn, skill)
            rows = [ScoreRow(**dict(r)) for r in records]
            reputation = reputations(rows)
            results = results_by_exercise(weighted_scores(rows, reputation))
            table = await asyncio.to_thread(standings, results, bootstrap=samples)
            return views.leaderboard(skill, table, reputation)

        async def train(body: dict[str, Any]) -> dict[str, Any]:
            return await jobs.start_training(self, body)

        async def training(body: dict[str, Any]) -> dict[str, Any]:
            return views.training(self.runs, body.get("job"))

        async def abtest(body: dict[str, Any]) -> dict[str, Any]:
            return await jobs.start_ab_test(self, body)

        async def abtests(body: dict[str, Any]) -> dict[str, Any]:
            return views.abtests(self.runs, body.get("test"))

        async def evolve(body: dict[str, Any]) -> dict[str, Any]:
            return await jobs.start_evolution(self, body)

        async def evolution(body: dict[str, Any]) -> dict[str, Any]:
            return views.evolution(self.runs, body.get("run"))

        for op, handler in (
            ("skills", skills),
            ("reload", reload),
            ("install", install),
            ("create", create),
            ("start", start),
            ("submit", submit),
            ("rate", rate),
            ("close", close),
            ("sessions", sessions),
            ("show", show),
            ("leaderboard", leaderboard),
            ("train", train),
            ("training", training),
            ("abtest", abtest),
            ("abtests", abtests),
            ("evolve", evolve),
            ("evolution", evolution),
        ):
            await ctx.command(command("academy", op), as_object(handler))
        for op, game_handler in games.HANDLERS.items():
            await ctx.command(command("academy", op), as_object(partial(game_handler, self)))
        for op, code_handler in code_commands.HANDLERS.items():
            await ctx.command(command("academy", op), as_object(partial(code_handler, self)))


def parse_genome(specs: Any) -> list[GenomeLayerRef]:
    if not isinstance(specs, list) or len(specs) > 32:
        raise RequestError("a genome is a list of at most 32 LAYER[@VERSION][:WEIGHT]")
    refs = []
    for spec in specs:
        if not isinstance(spec, str):
            raise RequestError("each layer must be a string LAYER[@VERSION][:WEIGHT]")
        try:
            layer_id, version, weight = parse_layer_spec(spec)
        except LayerError as exc:
            raise RequestError(str(exc)) from None
        refs.append(GenomeLayerRef(layer_id=layer_id, version=version, weight=weight))
    return refs
