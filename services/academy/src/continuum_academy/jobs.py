"""The academy's long work: self-training, A/B tests and evolution runs.

Each starts with an event that fixes everything the work depends on (its
seed, hyperparameters, variants), so after a crash the same work is done
again from the same inputs, resuming where its files say it stopped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
import uuid
from typing import TYPE_CHECKING, Any

from continuum.events.academy import (
    AbTestConcluded,
    AbTestFailed,
    AbTestRegistered,
    EvolutionCompleted,
    EvolutionStarted,
    GenerationCompleted,
    Hyperparameters,
    Member,
    TrainingCompleted,
    TrainingFailed,
    TrainingPlanned,
    TrainingStarted,
    Variant,
    VariantResult,
)
from continuum.genome.refs import parse_layer_spec, split_ref
from continuum.runtime import RequestError
from continuum_academy import abtest as stats
from continuum_academy import params, recipe
from continuum_academy.evolution import (
    Evolution,
    EvolutionConfig,
    GenerationReport,
    best_generalist,
    mutation_effects,
)
from continuum_academy.exams import accuracy, accuracy_by_kind, passes
from continuum_academy.lab import autotrain
from continuum_academy.lab.data import SkillExamples
from continuum_academy.lab.probe import dev_accuracy
from continuum_academy.lab.training import TrainingPlan, train
from continuum_academy.render import MAX_ANSWER_TOKENS, render
from continuum_academy.skills import Exercise, SkillError, available, draw
from continuum_lm.prompt import reply_text

#: Points kept of a training run's loss curve (GET /v1/academy/training/{job}).
LOSS_POINTS = 200

log = logging.getLogger("continuum.academy")

if TYPE_CHECKING:
    from continuum_academy.service import AcademyService


def _skill(academy: AcademyService, name: Any) -> Any:
    try:
        return academy.curriculum.get(str(name))
    except SkillError as exc:
        raise RequestError(str(exc), 404) from None


# -- self-training ------------------------------------------------------------------------


#: Fields that fix a hyperparameter by hand; a job given none of them is automatic.
MANUAL = ("rank", "alpha", "learning_rate", "steps", "batch", "schedule", "precision")


async def start_training(academy: AcademyService, body: dict[str, Any]) -> dict[str, Any]:
    body = {key: value for key, value in body.items() if value is not None}  # null: unset
    persona = await academy.persona(str(body.get("persona") or ""))
    skill = _skill(academy, body.get("skill"))
    auto = not any(key in body for key in MANUAL)
    hp = Hyperparameters(
        rank=params.integer(body, "rank", 16, 1, 256),
        alpha=params.integer(body, "alpha", 2 * int(body.get("rank", 16) or 16), 1, 1024),
        learning_rate=params.number(body, "learning_rate", 3e-3, 0.0, 1.0),
        steps=params.integer(body, "steps", 300, 1, 100_000),
        batch=params.integer(body, "batch", 32, 1, 1024),
        schedule=params.choice(body, "schedule", "constant", ("constant", "cosine")),  # type: ignore[arg-type]
        precision=params.choice(body, "precision", "float32", ("float32", "bfloat16")),  # type: ignore[arg-type]
    )
    cpu_minutes = params.number(body, "cpu_minutes", 10.0, 0.0, 7 * 24 * 60.0)
    if "cpu_minutes" in body and not auto:
        raise RequestError(
            "cpu_minutes is the budget of an automatic job: leave out "
            + ", ".join(MANUAL)
            + " to have the recipe choose them, or set steps yourself"
        )
    seed = params.integer(body, "seed", random.randrange(2**31), 0, 2**31)
    passed = _passed_attempts(academy, persona["id"], skill.name)
    default_share = (0.5 if passed else 1.0) if skill.has_gold else 0.0
    gold_share = params.share(body, "gold_share", default_share)
    if gold_share and not skill.has_gold:
        raise RequestError(f"skill {skill.name} has no gold answers: gold_share must be 0")
    if not passed and not gold_share:
        raise RequestError(
            f"nothing to train on: {persona['name']} has no passed {skill.name} attempts "
            "in train-split sessions"
            + (" and gold_share is 0" if skill.has_gold else " and the skill has no gold answers")
        )
    have = available(skill, "train")
    if have is not None and have + len(passed) < recipe.MIN_TRAIN_EXERCISES:
        raise RequestError(
            f"skill {skill.name} has {have} train-split exercises"
            + (f" and {len(passed)} passed attempts" if passed else "")
            + f"; training needs at least {recipe.MIN_TRAIN_EXERCISES} (add exercises to "
            + (getattr(skill, "where", "") or "the skill")
            + ", or mark fewer as split: heldout)"
        )
    job_id = uuid.uuid4().hex[:12]
    started = TrainingStarted(
        persona_id=persona["id"],
        skill=skill.name,
        parent_genome=persona.get("genome") or [],
        hyperparameters=hp,
        from_attempts=len(passed),
        gold_share=gold_share,
        seed=seed,
        layer_name=f"{persona['id']}-{skill.name}"[:64],
        auto=auto,
        cpu_seconds=cpu_minutes * 60,
    )
    workdir = academy.work_dir / "training" / job_id
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "attempts.json").write_text(json.dumps(passed))  # the data, fixed for a resume
    await academy.append(job_id, [started], 0)
    academy._spawn(f"training:{job_id}", self_train(academy, job_id))
    return {
        "job": job_id,
        "persona": persona["id"],
        "skill": skill.name,
        "status": "running",
        "auto": auto,
    }


def _passed_attempts(academy: AcademyService, persona_id: str, skill: str) -> list[list[str]]:
    """(exercise prompt, rubric, attempt text) of the persona's passed train-split attempts."""
    out = []
    for state in academy.book.sessions.values():
        if state.created.skill != skill or state.created.split != "train":
            continue
        for exercise_id, attempt in state.attempts_of(persona_id).items():
            if attempt.passed:
                exercise = state.exercises[exercise_id]
                out.append([exercise.prompt, exercise.rubric, attempt.submitted.text])
    return out


async def self_train(academy: AcademyService, job_id: str) -> None:
    job = academy.runs.training[job_id]
    started = job.started
    cpu_at_start = time.process_time()
    try:
        persona = await academy.persona(started.persona_id)
        lab = await academy.lab()
        skill = academy.curriculum.get(started.skill)
        parents, init = await academy.workshop.genome(started.parent_genome)
        speaker = persona["name"]
        workdir = academy.work_dir / "training" / job_id
        attempts = json.loads((workdir / "attempts.json").read_text())
        # Dev problems come from the train split (the held-out split is for reports)
        # and are kept out of the job's gold answers, so dev accuracy is not recall.
        dev = _dev_set(skill, started.seed + 1)
        examples = _examples(lab, skill, started, attempts, speaker, dev)
        _check_window(lab, skill, speaker)
        job.progress = {"phase": "measuring the untrained genome on the dev exercises"}
        timer = time.perf_counter()
        before = accuracy(await asyncio.to_thread(passes, lab, init, dev, speaker, academy.limits))
        eval_seconds = time.perf_counter() - timer
        planned: TrainingPlanned | None = None
        if started.auto:
            planned = job.planned or await _plan(
                academy, job_id, lab, skill, examples, dev, speaker, init, eval_seconds,
                cpu_at_start,
            )  # fmt: skip
            plan = _planned_run(planned, started.seed)
        else:
            hp = started.hyperparameters
            plan = TrainingPlan(
                rank=init.rank if init is not None else hp.rank,
                alpha=init.alpha if init is not None else float(hp.alpha),
                learning_rate=hp.learning_rate,
                steps=hp.steps,
                batch=hp.batch,
                seed=started.seed,
                checkpoint_every=max(10, hp.steps // 20),
                schedule=hp.schedule,
                precision=hp.precision,
            )

        curve: list[list[float]] = []
        checks: list[list[float]] = []

        def progress(step: int, total: int, loss: float) -> None:
            # The curve for a client's chart: at most LOSS_POINTS points, thinned
            # by halves as the run grows (live only, like the rest of progress).
            curve.append([step, round(loss, 4)])
            if len(curve) > LOSS_POINTS:
                del curve[1::2]
            job.progress = {
                "phase": "training",
                "step": step,
                "steps": total,
                "loss": round(loss, 4),
                "losses": curve,
                "checks": checks,
            }

        evaluate = None
        if plan.eval_every:
            check = dev_accuracy(
                lab, dev, [render(lab.tokenizer, e, speaker) for e in dev], academy.limits
            )

            def evaluate(model: Any) -> float:
                score = check(model)
                checks.append([job.progress.get("step", 0), round(score, 4)])
                return score

        result = await asyncio.to_thread(
            train,
            lab,
            examples,
            plan,
            init=init,
            workdir=workdir,
            progress=progress,
            evaluate=evaluate,
            should_stop=_budget(started, cpu_at_start, planned),
        )
        results = await asyncio.to_thread(passes, lab, result.weights, dev, speaker, academy.limits)
        after = accuracy(results)
        versions = academy.catalog.layers.get(started.layer_name)
        count = len(versions.versions) if versions is not None else 0
        gold = (
            f"{started.from_gold} gold answers"
            if started.from_gold
            else f"fresh gold answers as {started.gold_share:.0%} of each batch"
        )
        how = "the recipe's choice" if started.auto else "given"
        description = (
            f"{skill.description} Self-trained by the academy for {speaker} on "
            f"{started.from_attempts} passed attempts and {gold} (rank {plan.rank}, "
            f"lr {plan.learning_rate:g}, {plan.schedule} schedule, {plan.precision}, "
            f"{result.steps_done} of {plan.steps} steps, {how}; seed {started.seed}); "
            f"dev accuracy {before:.0%} -> {after:.0%}."
        )
        ref = await academy.workshop.publish(
            result.weights,
            name=started.layer_name,
            version=f"1.0.{count}",
            description=description[:2000],
            domains=[skill.name, "academy"],
            parents=parents,
        )
        job.progress.update(before=before, after=after)
        await academy.append(
            job_id,
            [
                TrainingCompleted(
                    layer=ref,
                    final_loss=result.final_loss,
                    seconds=round(result.seconds, 2),
                    resumed_from_step=result.resumed_from_step,
                    dev_before=before,
                    dev_after=after,
                    dev_after_by_kind=accuracy_by_kind(dev, results),
                    checks=list(result.checks)[-1000:],
                    stopped=result.stopped[:500],
                    steps_done=result.steps_done,
                    cpu_seconds=round(time.process_time() - cpu_at_start, 1),
                )
            ],
            None,
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        await academy.append(job_id, [TrainingFailed(error=str(exc)[:2000])], None)
        raise


def _planned_run(planned: TrainingPlanned, seed: int) -> TrainingPlan:
    """The lab's plan for a recorded automatic plan: a resumed job runs the plan
    its event holds, not a new measurement's (the rank is already the genome's
    own where it trains one further)."""
    hp = planned.hyperparameters
    return autotrain.automatic_plan(
        rank=hp.rank,
        alpha=float(hp.alpha),
        learning_rate=hp.learning_rate,
        steps=hp.steps,
        batch=hp.batch,
        schedule=hp.schedule,
        precision=hp.precision,
        eval_every=planned.eval_every,
        patience=planned.patience,
        target=planned.target,
        seed=seed,
    )


def _budget(started: TrainingStarted, cpu_at_start: float, planned: TrainingPlanned | None) -> Any:
    """A stop signal for an automatic job that has used its CPU budget, leaving
    room for its last dev check and the measurement after it (a manual job
    runs its steps). A resumed job counts from its restart: the planned steps,
    not the clock, bound it."""
    if not started.auto or planned is None:
        return None
    step = planned.step_seconds.get(planned.hyperparameters.precision, 0.0)
    return autotrain.budget_stop(
        lambda: time.process_time() - cpu_at_start,
        started.cpu_seconds,
        planned.eval_seconds,
        step,
        evals_after=2,
    )


async def _plan(
    academy: AcademyService,
    job_id: str,
    lab: Any,
    skill: Any,
    examples: Any,
    dev: list[Exercise],
    speaker: str,
    init: Any,
    eval_seconds: float,
    cpu_at_start: float,
) -> TrainingPlanned:
    """Measure, probe and plan an automatic job; the plan is recorded as an event."""
    job = academy.runs.training[job_id]
    started = job.started

    def phase(what: str, left: float | None) -> None:
        job.progress = {"phase": what} | ({} if left is None else {"estimate_seconds": left})

    have = available(skill, "train")
    dev_pairs = [(render(lab.tokenizer, e, speaker), e.gold or "") for e in dev]
    choice = await asyncio.to_thread(
        autotrain.choose,
        lab,
        examples,
        dev_pairs,
        cpu_seconds=started.cpu_seconds,
        cpu_spent=lambda: time.process_time() - cpu_at_start,
        eval_seconds=eval_seconds,
        seed=started.seed,
        train_examples=None if have is None else max(1, have - len(dev)),
        init=init,
        phase=phase,
    )
    chosen, seconds, losses = choice.recipe, choice.timing.step_seconds, choice.probes
    planned = TrainingPlanned(
        hyperparameters=Hyperparameters(
            rank=init.rank if init is not None else chosen.rank,
            alpha=round(init.alpha) if init is not None else chosen.alpha,
            learning_rate=chosen.learning_rate,
            steps=chosen.steps,
            batch=chosen.batch,
            schedule=chosen.schedule,  # type: ignore[arg-type]
            precision=chosen.precision,  # type: ignore[arg-type]
        ),
        eval_every=chosen.eval_every,
        patience=chosen.patience,
        target=chosen.target,
        step_seconds={k: round(v, 4) for k, v in seconds.items()},  # type: ignore[misc]
        eval_seconds=round(eval_seconds, 3),
        probes={f"{lr:g}": round(loss, 4) for lr, loss in losses.items()},
        estimate_seconds=chosen.estimate_seconds,
        reasons=[r[:500] for r in chosen.reasons],
        warnings=[w[:500] for w in chosen.warnings],
    )
    await academy.append(job_id, [planned], None)
    for warning in chosen.warnings:
        log.warning("academy: training %s: %s", job_id, warning)
    return planned


def _check_window(lab: Any, skill: Any, speaker: str) -> None:
    """A skill file's exercises must fit the model: the rendered prompt and the
    answer inside its context window, the answer within what an exam lets it
    write. Refused before anything trains, naming the exercise's line."""
    exercises = getattr(skill, "exercises", None)
    if exercises is None:  # a generator: its exercises are the skill author's to size
        return
    window = int(getattr(lab.model.config, "max_position_embeddings", 0) or 0)
    for exercise in exercises:
        answer = len(lab.encode(reply_text(lab.tokenizer, exercise.gold or "")))
        if answer > MAX_ANSWER_TOKENS:
            raise SkillError(
                f"{skill.locate(exercise)}: the answer is {answer} tokens; an exam lets a "
                f"model write at most {MAX_ANSWER_TOKENS}"
            )
        prompt = len(lab.encode(render(lab.tokenizer, exercise, speaker)))
        if window and prompt + answer > window:
            raise SkillError(
                f"{skill.locate(exercise)}: the prompt and answer are {prompt + answer} tokens; "
                f"the model's window is {window}"
            )


def _dev_set(skill: Any, seed: int) -> list[Exercise]:
    """The train-split problems to measure the job by (``autotrain.dev_size``)."""
    have = available(skill, "train")
    if have is None or have >= 20:
        return draw(skill, "train", autotrain.dev_size(have), seed)
    for count in (64, 16, 4):
        try:
            return draw(skill, "train", count, seed)
        except SkillError:
            continue
    raise SkillError(f"skill {skill.name!r} has fewer than 4 train-split exercises")


def _examples(
    lab: Any,
    skill: Any,
    started: TrainingStarted,
    attempts: list[list[str]],
    speaker: str,
    dev: list[Exercise],
) -> Any:
    """The job's data: its passed attempts, and gold answers drawn fresh per batch
    (or, for jobs recorded before that, a fixed draw of ``from_gold``); never a
    dev problem, attempt or gold."""

    def rendered(exercise: Exercise) -> str:
        return render(lab.tokenizer, exercise, speaker)

    dev_prompts = {e.prompt for e in dev}
    pairs = [
        (rendered(Exercise(skill.name, prompt, prompt, {}, text, rubric)), text)
        for prompt, rubric, text in attempts
        if prompt not in dev_prompts
    ]
    if started.from_gold:
        gold = draw(skill, "train", started.from_gold, started.seed)
        return pairs + [(rendered(e), e.gold or "") for e in gold]
    exclude = frozenset(e.key for e in dev)
    return SkillExamples(pairs, skill, rendered, started.gold_share, exclude)


# -- A/B tests ----------------------------------------------------------------------------


async def start_ab_test(academy: AcademyService, body: dict[str, Any]) -> dict[str, Any]:
    from continuum_academy.service import parse_genome

    persona = await academy.persona(str(body.get("persona") or ""))
    skill = _skill(academy, body.get("skill"))
    raw = body.get("variants")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 16:
        raise RequestError("variants must be a list of 1 to 16 genomes (lists of layer specs)")
    variants = []
    for index, specs in enumerate(raw, start=1):
        genome = parse_genome(specs if isinstance(specs, list) else [specs])
        for ref in genome:
            try:
                academy.catalog.resolve(ref.layer_id, ref.version)
            except Exception as exc:
                raise RequestError(str(exc), 404) from None
        variants.append(Variant(name=f"variant-{index}", genome=genome))
    method = body.get("method", "sequential")
    if method not in ("sequential", "fixed"):
        raise RequestError("method must be sequential or fixed")
    registered = AbTestRegistered(
        persona_id=persona["id"],
        skill=skill.name,
        control=Variant(
            name="control", genome=persona.get("genome") or [], combination=persona["combination"]
        ),
        variants=variants,
        method=method,
        alpha=params.number(body, "alpha", 0.05, 0.0, 0.49),
        exercises=params.integer(body, "exercises", 200, 1, 5000),
        seed=params.integer(body, "seed", random.randrange(2**31), 0, 2**31),
        promote=bool(body.get("promote", True)),
    )
    try:  # refused now, not after an hour of `0/?`
        draw(skill, "heldout", registered.exercises, registered.seed)
    except SkillError as exc:
        raise RequestError(f"exercises: {exc}") from None
    test_id = uuid.uuid4().hex[:12]
    await academy.append(test_id, [registered], 0)  # every variant, before any is tried
    academy._spawn(f"abtest:{test_id}", ab_test(academy, test_id))
    return {"test": test_id, "variants": [v.name for v in variants], "status": "running"}


async def ab_test(academy: AcademyService, test_id: str) -> None:
    try:
        await _run_ab_test(academy, test_id)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # the test ends, with its reason in the log and the API
        await academy.append(test_id, [AbTestFailed(error=str(exc)[:2000])], None)
        raise


async def _run_ab_test(academy: AcademyService, test_id: str) -> None:
    test = academy.runs.abtests[test_id]
    r = test.registered
    persona = await academy.persona(r.persona_id)
    lab = await academy.lab()
    skill = academy.curriculum.get(r.skill)
    exercises = draw(skill, "heldout", r.exercises, r.seed)
    _, control_weights = await academy.workshop.genome(r.control.genome)
    arms = len(r.variants) + 1  # the control, then each variant on the same exercises
    test.progress = {"evaluating": "control", "done": 0, "arms": arms}
    control = await asyncio.to_thread(
        passes, lab, control_weights, exercises, persona["name"], academy.limits
    )
    results, winners = [], []
    for done, variant in enumerate(r.variants, start=1):
        test.progress = {"evaluating": variant.name, "done": done, "arms": arms}
        _, weights = await academy.workshop.genome(variant.genome)
        outcome = await asyncio.to_thread(
            passes, lab, weights, exercises, persona["name"], academy.limits
        )
        verdict = stats.evaluate(
            outcome, control, method=r.method, alpha=r.alpha, variants=len(r.variants), seed=r.seed
        )
        results.append(
            VariantResult(
                name=variant.name,
                verdict=verdict.verdict,
                accuracy=round(verdict.child_accuracy, 4),
                control_accuracy=round(verdict.parent_accuracy, 4),
                variant_only=verdict.child_only,
                control_only=verdict.parent_only,
                exercises=verdict.exercises,
                detail=verdict.detail[:500],
            )
        )
        if verdict.verdict == "child":
            winners.append((verdict.child_accuracy, variant))
    promoted = ""
    if winners and r.promote:
        _, best = max(winners, key=lambda w: w[0])
        specs = [f"{g.layer_id}@{g.version}:{g.weight:g}" for g in best.genome]
        await academy.ctx.request(
            "cmd.persona-runtime.genome",
            {"persona": r.persona_id, "layers": specs, "combination": best.combination},
            timeout=30,
        )
        promoted = best.name
    await academy.append(test_id, [AbTestConcluded(results=results, promoted=promoted)], None)


# -- evolution ----------------------------------------------------------------------------


async def start_evolution(academy: AcademyService, body: dict[str, Any]) -> dict[str, Any]:
    names = body.get("skills")
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not isinstance(names, list) or not 1 <= len(names) <= 8:
        raise RequestError("skills must be a list of 1 to 8 skill names")
    for name in names:
        skill = _skill(academy, name)
        if not skill.has_gold:
            raise RequestError(f"skill {name!r} has no gold answers to train on")
    config = EvolutionConfig(
        skills=tuple(str(n) for n in names),
        population=params.integer(body, "population", 16, 2, 256),
        generations=params.integer(body, "generations", 10, 1, 1000),
        islands=params.integer(body, "islands", 2, 1, 16),
        seed=params.integer(body, "seed", random.randrange(2**31), 0, 2**31),
        dev_exercises=params.integer(body, "dev_exercises", 48, 4, 1000),
        train_steps=params.integer(body, "train_steps", 60, 1, 10_000),
        learning_rate=params.number(body, "learning_rate", recipe.LEARNING_RATE, 0.0, 1.0),
        rank=params.integer(body, "rank", recipe.RANK, 1, 256),
        silence=params.number(body, "silence", 1.0, 0.0, 100.0, low_allowed=True),
    )
    seeds = body.get("seed_layers") or []
    if not isinstance(seeds, list) or len(seeds) > 16 or not all(isinstance(x, str) for x in seeds):
        raise RequestError("seed_layers must be a list of at most 16 layer@version strings")
    refs = []
    for spec in seeds:
        try:
            layer_id, version, _ = parse_layer_spec(spec)
            refs.append(academy.catalog.resolve(layer_id, version).manifest.ref)
        except Exception as exc:
            raise RequestError(f"seed layer {spec!r}: {exc}", 404) from None
    run_id = uuid.uuid4().hex[:12]
    settings = {**config.to_dict(), "seed_layers": refs}
    started = EvolutionStarted(
        skills=list(config.skills),
        population=config.population,
        generations=config.generations,
        islands=config.islands,
        seed=config.seed,
        settings=settings,
    )
    await academy.append(run_id, [started], 0)
    academy._spawn(f"evolution:{run_id}", evolve(academy, run_id))
    return {"run": run_id, "status": "running", **settings}


def _config_of(started: EvolutionStarted) -> EvolutionConfig:
    settings = dict(started.settings)
    settings["skills"] = tuple(settings.get("skills", started.skills))
    known = EvolutionConfig.__dataclass_fields__
    return EvolutionConfig(**{k: v for k, v in settings.items() if k in known})


async def evolve(academy: AcademyService, run_id: str) -> None:
    run = academy.runs.evolutions[run_id]
    config = _config_of(run.started)
    lab = await academy.lab()
    loop = asyncio.get_running_loop()
    workdir = academy.work_dir / "evolution" / run_id
    skills = {name: academy.curriculum.get(name) for name in config.skills}

    def on_generation(report: GenerationReport) -> None:
        evolution.save(report.generation, report.members)  # weights first, then the event
        event = GenerationCompleted(
            generation=report.generation,
            members=[
                Member(
                    member_id=m.member_id,
                    parents=m.parents[:4],
                    origin=m.origin[:200],
                    scores={k: round(v, 4) for k, v in m.scores.items()},
                    fitness=round(m.fitness, 4),
                    species=m.species,
                    island=m.island,
                    rank=sum(w.rank for w, _ in m.layers),
                    mutated=m.mutated,
                    before=None if m.before is None else round(m.before, 4),
                )
                for m in report.members
            ],
            species={
                str(s): sum(1 for m in report.members if m.species == s)
                for s in sorted({m.species for m in report.members})
            },
            extinct=report.extinct,
            seconds=round(report.seconds, 2),
        )
        asyncio.run_coroutine_threadsafe(academy.append(run_id, [event], None), loop).result()

    def progress(text: str) -> None:
        run.progress = {"doing": text}

    seeds = []
    for ref in run.started.settings.get("seed_layers", []):
        seeds.append(await academy.workshop.layer(*split_ref(ref)))
    evolution = Evolution(lab, skills, config, workdir, on_generation, progress, seeds)
    done = [g.generation for g in run.generations]
    start_after = max(done) if done else None
    if start_after is not None and not (workdir / f"generation-{start_after:04d}").exists():
        start_after = None  # the files are gone (another pod): start again
    members = await asyncio.to_thread(evolution.run, start_after)
    champions: dict[str, str] = {}
    summary: dict[str, Any] = {}
    generalist = best_generalist(members)
    for skill in config.skills:
        # On a tie, a member with layers: the bare base model has none to publish.
        best = max(members, key=lambda m: (m.scores.get(skill, 0.0), bool(m.layers)))
        summary[skill] = {
            "champion": best.member_id,
            "species": best.species,
            "score": best.scores.get(skill, 0.0),
            "generalist_score": generalist.scores.get(skill, 0.0),
        }
        weights = best.weights()
        if weights is not None:
            champions[skill] = await academy.workshop.publish(
                weights,
                name=f"evo-{run_id}-{skill}"[:64],
                version="1.0.0",
                description=(
                    f"{skills[skill].description} Evolved by the academy (run {run_id}, "
                    f"member {best.member_id}, {best.origin}); dev accuracy "
                    f"{best.scores.get(skill, 0.0):.0%}."
                )[:2000],
                domains=[skill, "academy", "evolved"],
                parents=[],
            )
    summary["generalist"] = {"member": generalist.member_id, "scores": generalist.scores}
    summary["species"] = sorted({m.species for m in members})
    # Every generation's children made by a training mutation alone, as recorded.
    summary["mutations"] = mutation_effects(
        [m for g in academy.runs.evolutions[run_id].generations for m in g.members]
    )
    await academy.append(run_id, [EvolutionCompleted(champions=champions, summary=summary)], None)
