"""Playing games: this runtime's personas take their turns as the academy's
referee records the game.

The game's events (``evt.academy.game.<id>``) are folded with the same
``GameBook`` the referee uses; when a live event leaves a local persona to
move, it plays. The rules decide whose turn it is, so a move does not go
through the ThoughtStream's arbitration (one eligible bidder would only
add a window); it goes through the rest of the pipeline: GameRAG's
context, the persona's backend and genome, the referee's check, and the
game domain's executor, which shows the move in the room.

A move the referee refuses is shown to the persona with the reason on its
next try; after three refusals the persona forfeits, with the reasons, so a
game always ends. A repeated reaction (two replicas, a restart) is refused
by the referee as out of turn and dropped: the game's version guards it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from continuum.events.academy import GameEnded, GameStarted, MovePlayed
from continuum.games import Position, parse_move
from continuum.games.prompt import TITLES, exercise
from continuum.games.record import GameBook, GameRecord, describe_end
from continuum.genome import LayerError
from continuum.runtime.requests import ServiceRequestError
from continuum_lm.generation import BackendError, GenerationRequest
from continuum_persona.cognition.domains import Generation, Situation
from continuum_persona.cognition.pipeline import CognitionPipeline
from continuum_persona.personas import Persona, PersonaRegistry

log = logging.getLogger("continuum.persona.games")

TRIES = 3
Request = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Spawn = Callable[[Any], Any]


async def _ignore(_: str) -> None:
    return None


class GameTable:
    def __init__(
        self,
        registry: PersonaRegistry,
        pipeline: CognitionPipeline,
        request: Request,
        situation_room: Callable[[str], Any],
        spawn: Spawn,
    ) -> None:
        self.book = GameBook()
        self.registry = registry
        self.pipeline = pipeline
        self.request = request
        self.room_of = situation_room
        self.spawn = spawn
        self._playing: set[tuple[str, int]] = set()

    def apply(self, game_id: str, payload: BaseModel, seq: int, live: bool) -> None:
        try:
            record = self.book.apply(game_id, payload, seq)
        except Exception as exc:  # a record the rules cannot fold: never take the runtime down
            log.warning("game %s: cannot fold %s: %s", game_id, type(payload).__name__, exc)
            return
        if record is None or not live:
            return
        if isinstance(payload, GameStarted | MovePlayed):
            self.take_turn(record)
        elif isinstance(payload, GameEnded):
            self.spawn(self._announce_end(record))

    def take_turn(self, record: GameRecord) -> None:
        """Play if a persona of this runtime is to move (and is not already playing)."""
        player = record.to_move
        if player is None or player.kind != "persona":
            return
        persona = self.registry.personas.get(player.id)
        key = (record.game_id, len(record.position.moves))
        if persona is None or key in self._playing:
            return
        self._playing.add(key)
        task = self.spawn(self._play(record.game_id, persona))
        task.add_done_callback(lambda _: self._playing.discard(key))

    def resume(self) -> None:
        """After a restart: every game left waiting for one of our personas."""
        for record in list(self.book.games.values()):
            self.take_turn(record)

    def _situation(self, record: GameRecord, refused: str) -> Situation:
        position = record.position
        return Situation(
            domain="game",
            text=exercise(position, refused),
            author_id="referee",
            author_name="Referee",
            message_id="",
            room=self.room_of(record.started.room),
            context={"position": position, "refused": refused, "game": record.game_id},
        )

    async def _choose(self, persona: Persona, situation: Situation) -> tuple[int | None, str]:
        """The persona's move, and the text it answered with."""
        perception = self.pipeline.perceive(persona, situation)
        backend = self.pipeline.backend_for(persona)
        position: Position = situation.context["position"]
        legal = position.legal_moves()
        choose = getattr(backend, "choose", None)
        if choose is not None:
            try:
                genome = self.pipeline.genome_for(persona)
            except LayerError as exc:
                raise BackendError(f"genome: {exc}") from None
            request = GenerationRequest(
                perception.messages,
                max_tokens=4,
                temperature=0,
                speaker=persona.name,
                genome=genome,
            )
            scores = await choose(request, [str(m) for m in legal])
            best = max(range(len(legal)), key=lambda i: scores[i])
            return legal[best], str(legal[best])
        generation = await self.pipeline.generate(
            persona, perception, asyncio.Event(), _ignore, max_tokens=12, temperature=0.2
        )
        if generation.status != "complete":
            raise BackendError(generation.error or f"the generation was {generation.status}")
        return parse_move(generation.text), generation.text

    async def _play(self, game_id: str, persona: Persona) -> None:
        refusals: list[str] = []
        for _ in range(TRIES):
            record = self.book.games[game_id]
            if record.to_move is None or record.to_move.id != persona.persona_id:
                return
            situation = self._situation(record, refusals[-1] if refusals else "")
            started = time.perf_counter()
            try:
                move, answered = await self._choose(persona, situation)
            except BackendError as exc:
                refusals.append(f"its backend failed: {exc}")
                break
            what = "column" if record.position.shape.gravity else "cell"
            if move is None:
                refusals.append(f"{answered[:60]!r} names no {what}")
                continue
            body = {"game": game_id, "player": persona.persona_id, "move": move}
            try:
                played = await self.request("cmd.academy.game.move", body)
            except ServiceRequestError as exc:
                if exc.code != 409:
                    log.warning("game %s: %s could not move: %s", game_id, persona.persona_id, exc)
                    return
                now = self.book.games[game_id]
                if now.to_move is None or now.to_move.id != persona.persona_id:
                    return  # moved already (a replica, a restart) or over: nothing to do
                refusals.append(exc.message)
                continue
            text = f"I play {what} {move}.\n\n{played['board']}"
            if played["result"] is not None:  # this move ended it: one message says both
                text += f"\n\n{self._end_line(self.book.games[game_id], played)}"
            await self._say(persona, situation, text, started)
            return
        reason = "; ".join(refusals)[:300] or "no move"
        try:
            await self.request(
                "cmd.academy.game.forfeit",
                {"game": game_id, "player": persona.persona_id, "reason": reason},
            )
        except ServiceRequestError as exc:
            log.warning("game %s: %s could not forfeit: %s", game_id, persona.persona_id, exc)

    @staticmethod
    def _end_line(record: GameRecord, shown: dict[str, Any]) -> str:
        game = TITLES[record.started.game]
        if shown["result"] == "draw":
            return f"{game} is over: a draw."
        return f"{game} is over: {shown['winner']} won ({shown['reason']})."

    async def _announce_end(self, record: GameRecord) -> None:
        """The first of this runtime's personas in the game tells the room how it
        ended, unless one of them ended it with a move (its move's message says so)."""
        ended = record.ended
        moves = record.position.moves
        if ended is not None and ended.result != "forfeit" and moves:
            last = record.players[(len(moves) - 1) % 2]
            if last.id in self.registry.personas:
                return
        for player in record.players:
            persona = self.registry.personas.get(player.id)
            if persona is not None:
                game = TITLES[record.started.game]
                text = f"{game} is over: {describe_end(record)}.\n\n{record.position.board()}"
                await self._say(persona, self._situation(record, ""), text, time.perf_counter())
                return

    async def _say(self, persona: Persona, situation: Situation, text: str, started: float) -> None:
        if situation.room is None:
            return  # the room is gone: the game's record still holds the move
        generation = Generation(
            text=text,
            status="complete",
            tokens=0,
            backend=self.pipeline.backend_for(persona).name,
            first_token_ms=None,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
        try:
            await self.pipeline.domains.executor("game").act(persona, situation, generation)
        except Exception as exc:  # the move stands; only its message in the room is lost
            log.warning(
                "game: %s could not post in %s: %s", persona.persona_id, situation.room.room_id, exc
            )
