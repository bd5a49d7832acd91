"""The persona-runtime service: hosts the node's personas.

It folds the persona and chat contexts into memory (replayed on start, then
followed), runs every hosted persona's cognition for each message that opens
a turn (perceive, decide, bid: no LLM call), and generates for the personas
the scheduler grants, streaming pieces on ``live.chat.<room>`` and stopping
when ``ctl.chat.<room>`` says so.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

from continuum import suggest
from continuum.chat import HistoryItem, RoomDirectory
from continuum.chat.signals import (
    CONTROL_SUBJECTS,
    PRESENCE_SUBJECT,
    LivePiece,
    Presence,
    TurnControl,
    encode,
    live_subject,
    room_of,
)
from continuum.chat.signing import persona_identity, public_key, sign_message
from continuum.contracts import command
from continuum.contracts.commands import Embed, InstallPersonas, RetirePersona
from continuum.embeddings import Embedder
from continuum.events.chat import MemberLeft, MessagePosted, RoomCreated, TurnDecided
from continuum.events.genome import BaseModelRegistered
from continuum.events.persona import (
    MemoryAdded,
    OutcomeRecorded,
    PersonaCreated,
    PersonaRetired,
    PersonaUpdated,
)
from continuum.genome.blobs import LayerBlobs
from continuum.mesh.routing import encode_embedding
from continuum.natsauth.permissions import is_inbox
from continuum.runtime import RequestError, Service, ServiceContext
from continuum.runtime.commands import as_object
from continuum.runtime.follow import LogFollower
from continuum.store import ConcurrencyError
from continuum.store.base import StoredEvent
from continuum_lm.generation import BackendError, InferenceBackend
from continuum_persona import commands, install
from continuum_persona.backends import BackendPool
from continuum_persona.code import CodeDesk
from continuum_persona.cognition.academy import AcademyActionExecutor, AcademyRagBuilder
from continuum_persona.cognition.chat import ChatActionExecutor, ChatRagBuilder
from continuum_persona.cognition.code import CodeActionExecutor, CodeRagBuilder
from continuum_persona.cognition.decide import Decider
from continuum_persona.cognition.domains import DomainRegistry, Generation, Situation
from continuum_persona.cognition.game import GameActionExecutor, GameRagBuilder
from continuum_persona.cognition.pipeline import CognitionPipeline
from continuum_persona.games import GameTable
from continuum_persona.genome.runtime import GenomeRuntime
from continuum_persona.inference.unavailable import UnavailableBackend
from continuum_persona.personas import SEEDS, Persona, PersonaRegistry, persona_id_for
from continuum_persona.pins import MIGRATIONS as PIN_MIGRATIONS
from continuum_persona.pins import PinStore
from continuum_persona.settings import PersonaSettings

log = logging.getLogger("continuum.persona")


def _capability_text(persona: Persona) -> str:
    """What a persona is good at, as one text to embed for capability routing."""
    return "; ".join([persona.profile.name, persona.profile.role, *persona.profile.domains])


def outcome_of(generation: Generation, room_id: str) -> OutcomeRecorded:
    """The learn step's record of a generation (room "" for a direct one)."""
    return OutcomeRecorded(
        room_id=room_id,
        turn_id=generation.turn_id or "",
        message_id=generation.message_id,
        status=generation.status,  # type: ignore[arg-type]
        tokens=generation.tokens,
        first_token_ms=generation.first_token_ms,
        duration_ms=generation.duration_ms,
        backend=generation.backend,
        genome=generation.genome,
        genome_load_ms=generation.genome_load_ms,
    )


class PersonaRuntimeService(Service):
    name = "persona-runtime"
    description = "Personas: cognition pipeline and inference backends"
    schema = "persona_runtime"
    migrations = PIN_MIGRATIONS

    def __init__(self) -> None:
        self.settings = PersonaSettings()
        self.registry = PersonaRegistry()
        self.rooms = RoomDirectory()
        self._followers: list[LogFollower] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._cancels: dict[tuple[str, str], asyncio.Event] = {}
        self.pool: BackendPool | None = None
        #: Direct generations running now (the queue depth the mesh's adverts report).
        self._active = 0

    def health_details(self) -> dict[str, Any]:
        return {"personas": len(self.registry.personas)}

    # -- start -----------------------------------------------------------------------

    async def on_start(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.pool = BackendPool(
            self.settings,
            ctx.settings.home,
            LayerBlobs(ctx.nc.jetstream()),
            on_model=lambda backend: self._spawn(self.genome.register(backend)),
        )
        self.genome = GenomeRuntime(self.pool, self._append_base, self._search_layers)
        self._pins = PinStore(ctx.pool, self.schema)
        self.pool.pins.update(await self._pins.load())
        await self.pool.start()
        embedder = await asyncio.to_thread(Embedder)
        domains = DomainRegistry()
        domains.register("chat", ChatRagBuilder, lambda: ChatActionExecutor(self._post))
        domains.register(
            "academy", AcademyRagBuilder, lambda: AcademyActionExecutor(self._submit_attempt)
        )
        domains.register("game", GameRagBuilder, lambda: GameActionExecutor(self._post))
        self.code = CodeDesk(
            self.registry,
            lambda subject, body: ctx.request(subject, body, timeout=120),
            self._post,
            self.rooms.get,
            self._spawn,
        )
        domains.register("code", CodeRagBuilder, lambda: CodeActionExecutor(self.code.propose))
        self.pipeline = CognitionPipeline(
            domains,
            Decider(embedder),
            self._backend_for,
            self.genome.genome_of,
            self._bid,
            self._learn,
            max_tokens=self.settings.max_new_tokens,
            temperature=self.settings.temperature,
        )
        personas = ctx.follower("EVT_PERSONA", "evt.persona.>", self._on_persona)
        self._persona_log = personas
        chat = ctx.follower("EVT_CHAT", "evt.chat.>", self._on_chat)
        layers = ctx.follower("EVT_GENOME", "evt.genome.>", self._on_genome)
        self.games = GameTable(
            self.registry,
            self.pipeline,
            lambda subject, body: ctx.request(subject, body, timeout=10),
            self.rooms.get,
            self._spawn,
        )
        games = ctx.follower("EVT_ACADEMY", "evt.academy.game.>", self._on_game)
        workspaces = ctx.follower("EVT_ACADEMY", "evt.academy.workspace.>", self._on_code)
        proposals = ctx.follower("EVT_ACADEMY", "evt.academy.proposal.>", self._on_code)
        self._followers = [layers, personas, chat, games, workspaces, proposals]
        for follower in self._followers:
            await follower.start()
            await follower.caught_up()
        self.genome.caught_up()
        for persona in list(self.registry.personas.values()):
            if persona.genome:
                self._spawn(self.genome.prefetch_persona(persona))
        self._spawn(self.genome.prefetch_pins())
        if self.settings.seed:
            await self._seed()
        await ctx.subscribe(
            CONTROL_SUBJECTS, TurnControl, self._on_control, summary="Cancel a turn; call for bids."
        )
        self._spawn(self._heartbeat())
        await self._register_endpoints(ctx)
        await self._warm_up()
        self.games.resume()  # games left waiting for one of our personas while we were down

    async def _warm_up(self) -> None:
        """Do once, before the service answers its health check, what the first
        message would otherwise do cold: encode every persona's profile and
        build each one's context (which picks its backend and loads its
        tokenizer). Cold, that took longer than a bid window, so the first
        question after `continuum up` reported healthy got no bid at all."""
        personas = list(self.registry.personas.values())
        started = time.perf_counter()
        await asyncio.to_thread(self.pipeline.decider.prepare, "warm-up", personas)
        for persona in personas:
            situation = Situation("chat", "warm-up", "system", "System", "warm-up")
            try:
                await asyncio.to_thread(self.pipeline.perceive, persona, situation)
            except Exception as exc:  # a persona that cannot build a context bids nothing anyway
                log.warning("warming up %s: %s", persona.persona_id, exc)
        log.info("warmed up %d personas in %.1f s", len(personas), time.perf_counter() - started)

    async def _warm_profiles(self, personas: list[Persona]) -> None:
        """Embed what these personas' bids compare a message with. Cold, ten
        personas installed at once took longer than a bid window to encode on
        the first message after: nobody bid in time, and the question went
        unanswered."""
        texts = [t for p in personas for t in self.pipeline.decider.texts_for(p)]
        await asyncio.to_thread(self.pipeline.decider.embedder.warm, texts)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def on_stop(self, ctx: ServiceContext) -> None:
        for event in self._cancels.values():
            event.set()
        for task in list(self._tasks):
            task.cancel()
        for follower in self._followers:
            await follower.stop()
        if self.pool is not None:
            await self.pool.close()

    def _backend_for(self, persona: Persona) -> InferenceBackend:
        assert self.pool is not None
        try:
            return self.pool.for_persona(persona)
        except BackendError as exc:
            return UnavailableBackend(persona.backend.kind, str(exc))
        except Exception as exc:
            return UnavailableBackend(persona.backend.kind, f"backend could not start: {exc}")

    # -- seeding -------------------------------------------------------------------

    async def _append_new(self, payload: Any, aggregate_id: str) -> bool:
        """Append the first event of an aggregate; False if it already exists."""
        try:
            await self.ctx.store.append([self.ctx.factory.new(payload, aggregate_id)], 0)
        except ConcurrencyError:
            return False
        return True

    async def _ensure_lobby(self) -> None:
        lobby = self.settings.lobby
        if self.rooms.get(lobby) is None:
            created = RoomCreated(
                name=lobby.capitalize(),
                topic="Ask anything: the best-suited persona answers.",
                created_by="persona-runtime",
            )
            await self._append_new(created, lobby)  # False: someone else just made it
            for _ in range(100):  # until our follower has folded it in
                if self.rooms.get(lobby) is not None:
                    break
                await asyncio.sleep(0.02)

    async def _seed(self) -> None:
        lobby = self.settings.lobby
        await self._ensure_lobby()
        for profile in SEEDS:
            pid = persona_id_for(profile.name)
            if self.registry.get(pid) is None and pid not in self.registry.retired:
                command = commands.CreatePersona(
                    name=profile.name,
                    role=profile.role,
                    domains=profile.domains,
                    style=profile.style,
                    priority=profile.priority,
                    rooms=[lobby],
                )
                await self._create(command, seeded=True)

    async def _create(self, command: commands.CreatePersona, seeded: bool = False) -> str:
        pid = persona_id_for(command.name)
        for room_id in command.rooms:
            if self.rooms.get(room_id) is None and room_id != self.settings.lobby:
                raise RequestError(f"unknown room {room_id!r}", 404)
        if self.settings.lobby in command.rooms:
            await self._ensure_lobby()
        if pid in self.registry.retired:
            raise RequestError(
                f"persona id {pid!r} belonged to a retired persona; choose another name", 409
            )
        key = public_key(persona_identity(self.ctx.identity, pid))
        if not await self._append_new(commands.created_event(command, key, seeded), pid):
            raise RequestError(f"a persona with id {pid!r} already exists", 409)
        for room_id in command.rooms:
            room = self.rooms.get(room_id)
            if room is None or pid not in room.members:
                joined = commands.joined_event(pid, command.name)
                await self.ctx.store.append([self.ctx.factory.new(joined, room_id)], None)
        return pid

    # -- the log -------------------------------------------------------------------

    async def _on_genome(self, stored: StoredEvent, live: bool) -> None:
        self.genome.apply(stored.event.envelope.subject, stored.event.payload, stored.seq)

    async def _append_base(self, description: BaseModelRegistered) -> None:
        event = self.ctx.factory.new(description, description.base_model)
        await self.ctx.store.append([event], None)

    async def _search_layers(self, topic: str, base_model: str) -> list[str]:
        body = {"query": topic, "k": 3, "base_model": base_model, "min_score": 0.3}
        reply = await self.ctx.request("cmd.genome-registry.search", body, timeout=5)
        return [str(r["id"]) for r in reply.get("results", [])]

    async def _on_persona(self, stored: StoredEvent, live: bool) -> None:
        payload = stored.event.payload
        self.registry.apply(stored.event.envelope.subject, payload)
        if live:
            prefetch = self.genome.on_persona_event(
                self.registry.personas.get(stored.event.envelope.subject), payload
            )
            if prefetch is not None:
                self._spawn(prefetch)
        if live and isinstance(payload, MemoryAdded):
            # Learnt now, embedded now (in a worker thread): not on the next bid's path.
            self._spawn(asyncio.to_thread(self.pipeline.decider.embedder.warm, [payload.text]))
        if live and isinstance(payload, PersonaCreated | PersonaUpdated):
            persona = self.registry.personas.get(stored.event.envelope.subject)
            if persona is not None:  # its profile embedded now, not on its first bid's path
                self._spawn(self._warm_profiles([persona]))
        if live and isinstance(payload, PersonaCreated | PersonaRetired):
            await self._announce()  # present (or gone) at once, not at the next heartbeat

    async def _on_game(self, stored: StoredEvent, live: bool) -> None:
        self.games.apply(stored.event.envelope.subject, stored.event.payload, stored.seq, live)

    async def _on_code(self, stored: StoredEvent, live: bool) -> None:
        self.code.apply(stored.event.envelope.subject, stored.event.payload, live)

    async def _on_chat(self, stored: StoredEvent, live: bool) -> None:
        envelope, payload = stored.event.envelope, stored.event.payload
        room_id = envelope.subject
        if envelope.type.startswith("continuum.chat.room."):
            room = self.rooms.apply(room_id, payload)
            if live and isinstance(payload, RoomCreated) and self.settings.prefetch_topics:
                self._spawn(self.genome.prefetch_topic(payload))
            opens_turn = isinstance(payload, MessagePosted) and (
                payload.author_kind == "human" or bool(payload.mentions)
            )
            if live and room is not None and opens_turn:
                assert isinstance(payload, MessagePosted)
                self._spawn(self._consider_all(room_id, payload))
        elif live and isinstance(payload, TurnDecided):
            for winner in payload.winners:
                persona = self.registry.get(winner)
                if persona is not None and persona.persona_id == winner:
                    self._spawn(self._take_turn(room_id, persona, payload))

    def _situation(
        self, room_id: str, message: MessagePosted | HistoryItem, persona: Persona
    ) -> Situation:
        return Situation(
            domain="chat",
            text=message.text,
            author_id=message.author_id,
            author_name=message.author_name,
            message_id=message.message_id,
            room=self.rooms.get(room_id),
            mentioned=persona.persona_id in message.mentions,
        )

    async def _consider_all(self, room_id: str, message: MessagePosted | HistoryItem) -> None:
        room = self.rooms.get(room_id)
        if room is None:
            return
        members = [
            self.registry.personas[m.member_id]
            for m in room.personas
            if m.member_id in self.registry.personas and m.member_id != message.author_id
        ]
        # In a worker thread: a persona whose texts are not cached yet must not stall the loop.
        await asyncio.to_thread(self.pipeline.decider.prepare, message.text, members)
        results = await asyncio.gather(
            *(self.pipeline.consider(p, self._situation(room_id, message, p)) for p in members),
            return_exceptions=True,
        )
        for persona, result in zip(members, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("%s could not bid: %s", persona.persona_id, result)

    async def _bid(self, persona: Persona, situation: Situation, bid: Any) -> str:
        assert situation.room is not None
        body = {
            "room_id": situation.room.room_id,
            "trigger_message_id": situation.message_id,
            "bid": bid.model_dump(mode="json"),
        }
        # Through the broker: the decision joins the message's trace.
        reply = await self.ctx.request("cmd.scheduler.bid", body, timeout=5)
        return str(reply.get("status"))

    # -- a granted turn ---------------------------------------------------------

    async def _take_turn(self, room_id: str, persona: Persona, decision: TurnDecided) -> None:
        room = self.rooms.get(room_id)
        trigger = room.message(decision.trigger_message_id) if room is not None else None
        if room is None or trigger is None:
            log.warning("turn %s: trigger message is unknown here", decision.turn_id)
            return
        situation = self._situation(room_id, trigger, persona)
        if trigger.author_kind == "human":  # a request naming a workspace's file: code
            situation = await self.code.code_situation(situation) or situation
        key = (decision.turn_id, persona.persona_id)
        cancel = asyncio.Event()
        self._cancels[key] = cancel
        message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{decision.turn_id}/{persona.persona_id}").hex
        subject = live_subject(room_id)
        seq = 0
        working_piece = LivePiece(
            kind="working",
            turn_id=decision.turn_id,
            persona_id=persona.persona_id,
            message_id=message_id,
        )

        async def on_delta(piece: str) -> None:
            nonlocal seq
            seq += 1
            delta = working_piece.model_copy(
                update={"kind": "delta", "seq": seq, "text": piece, "name": persona.name}
            )
            await self.ctx.broker.publish(encode(delta), subject)

        async def working() -> None:
            while True:
                await self.ctx.broker.publish(encode(working_piece), subject)
                await asyncio.sleep(self.settings.heartbeat_s)

        def prepare(generation: Generation) -> None:
            generation.turn_id, generation.message_id = decision.turn_id, message_id

        heartbeat = self._spawn(working())
        try:
            await self.pipeline.respond(persona, situation, cancel, on_delta, prepare)
        finally:
            heartbeat.cancel()
            self._cancels.pop(key, None)

    async def _post(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        room = situation.room
        assert room is not None
        text = generation.text or ("(no answer)" if generation.status == "complete" else "")
        identity = persona_identity(self.ctx.identity, persona.persona_id)
        posted = MessagePosted(
            message_id=generation.message_id or uuid.uuid4().hex,
            author_id=persona.persona_id,
            author_kind="persona",
            author_name=persona.name,
            text=text[:8000],
            mentions=[m for m in room.mentions_in(text) if m != persona.persona_id],
            reply_to=situation.message_id or None,
            turn_id=generation.turn_id,
            status=generation.status,  # type: ignore[arg-type]
            error=generation.error,
            tokens=generation.tokens,
            signature=sign_message(identity, room.room_id, generation.turn_id, text[:8000]),
        )
        await self.ctx.store.append([self.ctx.factory.new(posted, room.room_id)], None)

    async def _submit_attempt(
        self, persona: Persona, situation: Situation, generation: Generation
    ) -> None:
        """The academy domain's action: the answer goes to the academy as an attempt."""
        if generation.status != "complete":
            raise RequestError(f"the attempt could not be generated: {generation.error}", 503)
        body = {
            "session": situation.context["session"],
            "exercise": situation.context["exercise"],
            "text": generation.text,
            "submitter": "persona",
            "contestant": persona.persona_id,
            "genome": [g.model_dump() for g in persona.genome],
        }
        situation.context["result"] = await self.ctx.request("cmd.academy.submit", body, timeout=60)

    async def _learn(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        assert situation.room is not None
        events = [
            self.ctx.factory.new(outcome_of(generation, situation.room.room_id), persona.persona_id)
        ]
        if generation.status == "complete":
            memory = MemoryAdded(text=f"answered: {situation.text[:200]}", source="chat")
            events.append(self.ctx.factory.new(memory, persona.persona_id))
        await self.ctx.store.append(events, None)

    async def _on_control(self, subject: str, control: TurnControl) -> None:
        room_id = room_of(subject)
        if room_id is None:
            return
        if control.call is not None:
            self._answer_call(room_id, control.call)
            return
        if control.cancel is None or control.persona_id is None:
            return
        cancel = self._cancels.get((control.cancel, control.persona_id))
        if cancel is not None:
            log.info(
                "turn %s of %s cancelled: %s", control.cancel, control.persona_id, control.reason
            )
            cancel.set()

    def _answer_call(self, room_id: str, message_id: str) -> None:
        """The scheduler asks for bids on a message (it missed ours while it was down)."""
        room = self.rooms.get(room_id)
        if room is None:
            return
        item = room.message(message_id)
        if item is None:
            return
        self._spawn(self._consider_all(room_id, item))

    async def _announce(self) -> None:
        ids = list(self.registry.personas)
        await self.ctx.broker.publish(encode(Presence(personas=ids)), PRESENCE_SUBJECT)

    async def _heartbeat(self) -> None:
        while True:
            await self._announce()
            await asyncio.sleep(self.settings.heartbeat_s)

    # -- endpoints -----------------------------------------------------------------

    def _describe(self, persona: Persona) -> dict[str, Any]:
        assert self.pool is not None
        return {
            "id": persona.persona_id,
            **persona.profile.model_dump(mode="json"),
            "public_key": persona.public_key,
            "base_model": persona.base_model,
            "backend": persona.backend.model_dump(mode="json"),
            "effective_backend": self.pool.kind_for(persona),
            "genome": [g.model_dump(mode="json") for g in persona.genome],
            "combination": persona.combination,
            "memory": persona.memory[-20:],
            "memory_count": len(persona.memory),
            "success_rate": round(persona.success_rate, 3),
            # 0.5 is the prior a bid uses before any turn; say how many turns it rests on.
            "recent_turns": len(persona.outcomes),
            "rooms": sorted(
                r.room_id for r in self.rooms.rooms.values() if persona.persona_id in r.members
            ),
        }

    def _layer_hashes(self, persona: Persona) -> list[str]:
        """The sha256 of each layer of the persona's genome (none where it
        cannot be resolved now: the advert says what surely runs)."""
        try:
            return [layer.sha256 for layer in self.pipeline.genome_for(persona).layers]
        except Exception:
            return []

    def _find(self, key: Any) -> Persona:
        if not isinstance(key, str) or not key:
            raise RequestError("persona must be a persona id or name")
        persona = self.registry.get(key)
        if persona is None:
            known = [p.persona_id for p in self.registry.personas.values()]
            raise RequestError(suggest.unknown("persona", key, known), 404)
        return persona

    async def _register_endpoints(self, ctx: ServiceContext) -> None:
        async def create(body: dict[str, Any]) -> dict[str, Any]:
            command = commands.parse(commands.CreatePersona, body, "persona")
            pid = await self._create(command)
            for _ in range(50):  # until our own follower has folded it in
                if pid in self.registry.personas:
                    break
                await asyncio.sleep(0.02)
            return self._describe(self._find(pid))

        async def update(body: dict[str, Any]) -> dict[str, Any]:
            command = commands.parse(commands.UpdatePersona, body, "update")
            persona = self._find(command.persona)
            event = commands.updated_event(command, persona.profile)
            result = await ctx.store.append([ctx.factory.new(event, persona.persona_id)], None)
            await self._persona_log.reached(result.version)  # answer with the update applied
            described = self._describe(persona)
            assert self.pool is not None
            if "backend" in body and (warning := await self.pool.unanswered(persona)):
                described["warnings"] = [warning]
            return described

        async def retire(body: dict[str, Any]) -> dict[str, Any]:
            command = commands.parse(RetirePersona, body, "retire")
            persona = self._find(command.persona)
            pid = persona.persona_id
            retired = PersonaRetired(retired_by=command.by)
            result = await ctx.store.append([ctx.factory.new(retired, pid)], None)
            await self._persona_log.reached(result.version)  # gone from the roster first
            left = sorted(r.room_id for r in self.rooms.rooms.values() if pid in r.members)
            for room_id in left:
                event = ctx.factory.new(MemberLeft(member_id=pid), room_id)
                await ctx.store.append([event], None)
            return {"persona": pid, "left": left}

        async def profiles(_: dict[str, Any]) -> dict[str, Any]:
            return {"profiles": install.catalog(self.registry)}

        async def install_(body: dict[str, Any]) -> dict[str, Any]:
            request = commands.parse(InstallPersonas, body, "install")
            plan = install.plan(request, self.registry)
            installed: list[str] = []
            for create_command in plan.create:
                try:
                    installed.append(await self._create(create_command))
                except RequestError as exc:
                    if exc.code != 409:  # 409: installed meanwhile by another request
                        raise
                    plan.present.append(persona_id_for(create_command.name))
            for _ in range(100):  # until our own follower has folded them in
                if all(pid in self.registry.personas for pid in installed):
                    break
                await asyncio.sleep(0.02)
            # Answered once they can bid: their profiles embedded, not on the next message's path.
            await self._warm_profiles(
                [self.registry.personas[p] for p in installed if p in self.registry.personas]
            )
            return {"installed": installed, "present": plan.present, "retired": plan.retired}

        async def list_(_: dict[str, Any]) -> dict[str, Any]:
            return {"personas": [self._describe(p) for p in self.registry.personas.values()]}

        async def show(body: dict[str, Any]) -> dict[str, Any]:
            return self._describe(self._find(body.get("persona")))

        async def generate(body: dict[str, Any]) -> dict[str, Any]:
            persona = self._find(body.get("persona"))
            prompt = body.get("prompt")
            if not isinstance(prompt, str) or not prompt.strip():
                raise RequestError("prompt must be a non-empty string")
            if len(prompt) > 8000:
                raise RequestError("prompt is longer than 8000 characters")
            stream_to = body.get("stream")
            max_tokens = body.get("max_tokens")
            if max_tokens is not None and (
                not isinstance(max_tokens, int) or not 1 <= max_tokens <= 8192
            ):
                raise RequestError("max_tokens must be an integer from 1 to 8192")
            continuation = body.get("continuation") or ""
            if not isinstance(continuation, str) or len(continuation) > 32000:
                raise RequestError("continuation must be a string of at most 32000 characters")
            situation = Situation("chat", prompt, "cli", "User", uuid.uuid4().hex)
            perception = self.pipeline.perceive(persona, situation)

            async def on_delta(piece: str) -> None:
                if isinstance(stream_to, str) and is_inbox(stream_to):
                    await ctx.broker.publish(piece.encode(), stream_to)

            self._active += 1
            try:
                generation = await self.pipeline.generate(
                    persona,
                    perception,
                    asyncio.Event(),
                    on_delta,
                    max_tokens,
                    continuation=continuation,
                )
            finally:
                self._active -= 1
            outcome = outcome_of(generation, "")  # direct generations are monitored too
            await ctx.store.append([ctx.factory.new(outcome, persona.persona_id)], None)
            return {
                "genome": [g.model_dump() for g in generation.genome],
                "genome_load_ms": generation.genome_load_ms,
                "persona": persona.persona_id,
                "text": generation.text,
                "status": generation.status,
                "error": generation.error,
                "tokens": generation.tokens,
                "backend": generation.backend,
                "first_token_ms": generation.first_token_ms,
                "duration_ms": generation.duration_ms,
            }

        async def attempt(body: dict[str, Any]) -> dict[str, Any]:
            """Attempt an academy exercise: perceive (academy RAG), generate
            greedily, act (submit the attempt to the academy)."""
            persona = self._find(body.get("persona"))
            prompt, rubric = body.get("prompt"), body.get("rubric", "")
            examples = body.get("examples", [])
            if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > 8000:
                raise RequestError("prompt must be a non-empty string of at most 8000 characters")
            if not isinstance(rubric, str) or not isinstance(examples, list):
                raise RequestError("rubric must be a string and examples a list")
            for key in ("session", "exercise"):
                if not isinstance(body.get(key), str):
                    raise RequestError(f"{key} must be a string")
            context = {
                "session": body["session"],
                "exercise": body["exercise"],
                "rubric": rubric,
                "examples": [e for e in examples if isinstance(e, list) and len(e) == 2],
            }
            situation = Situation(
                "academy", prompt, "academy", "Academy", uuid.uuid4().hex, context=context
            )
            perception = self.pipeline.perceive(persona, situation)

            async def ignore(_: str) -> None:
                return None

            max_tokens = body.get("max_tokens", 48)
            if not isinstance(max_tokens, int) or not 1 <= max_tokens <= 1024:
                raise RequestError("max_tokens must be an integer from 1 to 1024")
            generation = await self.pipeline.generate(
                persona, perception, asyncio.Event(), ignore, max_tokens, temperature=0.0
            )
            await self.pipeline.domains.executor("academy").act(persona, situation, generation)
            outcome = outcome_of(generation, "")
            await ctx.store.append([ctx.factory.new(outcome, persona.persona_id)], None)
            return {"text": generation.text, "result": context.get("result")}

        async def set_genome(body: dict[str, Any]) -> dict[str, Any]:
            persona = self._find(body.get("persona"))
            event = self.genome.genome_update(persona, body)
            result = await ctx.store.append([ctx.factory.new(event, persona.persona_id)], None)
            await self._persona_log.reached(result.version)
            return self._describe(persona)

        async def cache(body: dict[str, Any]) -> dict[str, Any]:
            for key, pinned in (("pin", True), ("unpin", False)):
                layer_id = body.get(key)
                if layer_id is not None:
                    if not isinstance(layer_id, str) or not layer_id:
                        raise RequestError(f"{key} must be a layer id")
                    await self.genome.pin(layer_id, pinned)
                    await (self._pins.pin if pinned else self._pins.unpin)(layer_id)
            return self.genome.cache_report()

        async def offers(_: dict[str, Any]) -> dict[str, Any]:
            """What the mesh's adverts say of this node's personas."""
            personas = list(self.registry.personas.values())
            texts = [_capability_text(p) for p in personas]
            embedder = self.pipeline.decider.embedder
            vectors: Any = await asyncio.to_thread(embedder.encode, texts) if texts else []
            assert self.pool is not None
            return {
                "personas": [
                    {
                        "persona": p.persona_id,
                        "name": p.profile.name,
                        "role": p.profile.role,
                        "domains": list(p.profile.domains),
                        "layers": self._layer_hashes(p),
                        "backend": self.pool.kind_for(p),
                        "embedding": encode_embedding(vector),
                    }
                    for p, vector in zip(personas, vectors, strict=True)
                ],
                "queue_depth": self._active,
                "backends": sorted({self.pool.kind_for(p) for p in personas}),
            }

        async def embed(body: dict[str, Any]) -> dict[str, Any]:
            request = commands.parse(Embed, body, "embed")
            vectors = await asyncio.to_thread(self.pipeline.decider.embedder.encode, request.texts)
            return {"vectors": [encode_embedding(v) for v in vectors]}

        for op, handler in (
            ("offers", offers),
            ("embed", embed),
            ("genome", set_genome),
            ("cache", cache),
            ("create", create),
            ("update", update),
            ("retire", retire),
            ("list", list_),
            ("show", show),
            ("profiles", profiles),
            ("install", install_),
            ("generate", generate),
            ("attempt", attempt),
        ):
            await ctx.command(command("persona-runtime", op), as_object(handler))
