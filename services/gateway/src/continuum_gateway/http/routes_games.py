"""Games over HTTP (``cmd.academy.game.*``): start one in a room, play a
human's moves, watch the board, read a game's leaderboard.

Personas move by themselves (persona-runtime plays their turns), so a move
sent here must be a human player's: no outside caller can move for a
persona. The academy's referee checks every move against the whole game
and refuses an illegal or out-of-turn one with the reason (409).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from continuum_gateway.http import bodies
from continuum_gateway.http.auth import require
from continuum_gateway.http.errors import ApiError
from continuum_gateway.http.routes_chat import call_service, chat_of, run_chat
from continuum_gateway.tokens import ApiToken

router = APIRouter()

GameId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
GameKind = Annotated[str, Path(pattern=r"^(tic-tac-toe|connect-four)$")]
Reader = Annotated[ApiToken, Depends(require("read"))]
Publisher = Annotated[ApiToken, Depends(require("publish"))]


async def _games(request: Request, op: str, body: dict[str, Any]) -> Any:
    return await call_service(request, "academy", f"game.{op}", body, 30)


@router.get("/v1/games", summary="Games, newest last (in one room, or all)")
async def list_games(
    request: Request,
    _: Reader,
    room: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = None,
) -> Any:
    return await _games(request, "list", {"room": room} if room else {})


@router.post(
    "/v1/games",
    status_code=201,
    summary="Start a game in a room",
    description="Two players, personas or humans; the first moves first (X). A persona "
    "plays its turns by itself and shows each move in the room.",
)
async def start_game(
    request: Request, body: Annotated[bodies.NewGame, Body()], token: Publisher
) -> Any:
    await run_chat(chat_of(request).room(body.room))  # 404 for a room that does not exist
    sent = await bodies.sent(request)
    return await _games(request, "start", {**sent, "started_by": token.name})


@router.get("/v1/games/leaderboard/{kind}", summary="Bradley-Terry ratings on a game")
async def game_leaderboard(request: Request, kind: GameKind, _: Reader) -> Any:
    return await _games(request, "leaderboard", {"game": kind})


@router.get("/v1/games/{game}", summary="A game: board, moves, legal moves, whose turn")
async def show_game(request: Request, game: GameId, _: Reader) -> Any:
    return await _games(request, "show", {"game": game})


async def _human(request: Request, game: str, player: str) -> None:
    shown = await _games(request, "show", {"game": game})
    kinds = {p["id"]: p["kind"] for p in shown["players"]}
    if kinds.get(player) == "persona":
        raise ApiError(403, f"{player} is a persona: it plays its own moves")


@router.post(
    "/v1/games/{game}/moves",
    summary="A human player's move",
    description="Refused (409, with the reason) when it is illegal, out of turn, or the game "
    "is over; nothing changes then.",
)
async def play_move(
    request: Request, game: GameId, body: Annotated[bodies.GameMove, Body()], _: Publisher
) -> Any:
    await _human(request, game, body.player)
    return await _games(request, "move", {"game": game, **await bodies.sent(request)})


@router.post("/v1/games/{game}/forfeit", summary="A human player gives up")
async def forfeit_game(
    request: Request, game: GameId, body: Annotated[bodies.GameForfeit, Body()], _: Publisher
) -> Any:
    await _human(request, game, body.player)
    return await _games(request, "forfeit", {"game": game, **await bodies.sent(request)})
