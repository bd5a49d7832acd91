"""The academy as referee: games start, moves are checked and appended, and
every finished game feeds its game's Bradley-Terry leaderboard.

The rules and the fold are ``continuum.games`` (persona-runtime reads the
same fold to know whose turn it is); here is only what the commands do.
A move is appended at the game's version, so when two moves race for one
turn the second is decided again on the state the first left, and is then
refused as out of turn: never two moves for one turn, never a half-applied
one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from pydantic import BaseModel

from continuum import suggest
from continuum.contracts.commands import (
    ForfeitGame,
    GameLeaderboard,
    GameList,
    GameRef,
    PlayMove,
    StartGame,
)
from continuum.events.academy import GamePlayer, GameStarted
from continuum.games import IllegalMove
from continuum.games.record import GameBook, GameRecord, referee_forfeit, referee_move
from continuum.runtime import RequestError
from continuum.runtime.commands import parse_request
from continuum.store import ConcurrencyError
from continuum_academy import views
from continuum_academy.leaderboard import standings

TRIES = 5


class Referee(Protocol):
    """What the game commands need from the academy service."""

    games: GameBook

    async def append(self, aggregate_id: str, events: list[Any], expected: int | None) -> int: ...

    async def persona(self, key: str) -> dict[str, Any]: ...

    async def caught_up_to(self, version: int | None) -> None: ...


def _game(referee: Referee, game_id: str) -> GameRecord:
    record = referee.games.games.get(game_id)
    if record is None:
        raise RequestError(suggest.unknown("game", game_id, referee.games.games), 404)
    return record


async def start(referee: Referee, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(StartGame, body)
    players = []
    for player in request.players:
        if player.kind == "persona":
            persona = await referee.persona(player.id)
            players.append(GamePlayer(id=persona["id"], kind="persona"))
        else:
            players.append(GamePlayer(id=player.id.replace(" ", "-"), kind="human"))
    if players[0].id == players[1].id:
        raise RequestError(f"a game needs two different players, not {players[0].id} twice", 422)
    game_id = uuid.uuid4().hex[:12]
    started = GameStarted(
        game=request.game,
        room=request.room,
        players=players,
        started_by=request.started_by or "someone",
    )
    await referee.append(game_id, [started], 0)
    return _game(referee, game_id).describe()


async def _decide(
    referee: Referee, game_id: str, decide: Callable[[GameRecord], list[BaseModel]]
) -> dict[str, Any]:
    for _ in range(TRIES):
        record = _game(referee, game_id)
        try:
            events = decide(record)
        except IllegalMove as exc:
            raise RequestError(str(exc), 409) from None
        try:
            await referee.append(game_id, events, record.version)
        except ConcurrencyError as conflict:  # a move landed meanwhile: decide again on it
            await referee.caught_up_to(conflict.actual)
            continue
        return _game(referee, game_id).describe()
    raise RequestError("the game is busy; retry", 409)


async def move(referee: Referee, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(PlayMove, body)
    return await _decide(
        referee, request.game, lambda r: referee_move(r, request.player, request.move)
    )


async def forfeit(referee: Referee, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(ForfeitGame, body)
    return await _decide(
        referee, request.game, lambda r: [referee_forfeit(r, request.player, request.reason)]
    )


async def show(referee: Referee, body: dict[str, Any]) -> dict[str, Any]:
    return _game(referee, parse_request(GameRef, body).game).describe()


async def listing(referee: Referee, body: dict[str, Any]) -> dict[str, Any]:
    room = parse_request(GameList, body).room
    games = [g for g in referee.games.games.values() if room is None or g.started.room == room]
    return {"games": [g.describe() for g in games]}


async def leaderboard(referee: Referee, body: dict[str, Any]) -> dict[str, Any]:
    """The game's Bradley-Terry ratings (the academy's leaderboard fit, games
    as its exercises: the intervals resample games)."""
    game = parse_request(GameLeaderboard, body).game
    table = await asyncio.to_thread(standings, referee.games.results(game))
    return {"game": game, "standings": [views.standing(s, "games") for s in table]}


HANDLERS: dict[str, Callable[[Referee, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "game.start": start,
    "game.move": move,
    "game.forfeit": forfeit,
    "game.show": show,
    "game.list": listing,
    "game.leaderboard": leaderboard,
}
