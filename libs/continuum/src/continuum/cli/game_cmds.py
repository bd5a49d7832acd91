"""`continuum game ...`: start a game in a room, play a human's moves, watch
the board, read a game's leaderboard."""

from __future__ import annotations

import time
from typing import Any

import typer

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, print_table

app = typer.Typer(help="Games in rooms: tic-tac-toe and Connect Four.", no_args_is_help=True)

KINDS = ("tic-tac-toe", "connect-four")


def _player(spec: str) -> dict[str, str]:
    """``helper-ai`` (a persona) or ``human:ada``."""
    kind, sep, name = spec.partition(":")
    if sep and kind == "human":
        if not name:
            raise CliError("a human player is human:NAME, e.g. human:ada")
        return {"id": name, "kind": "human"}
    return {"id": spec, "kind": "persona"}


def _kind(game: str) -> str:
    if game not in KINDS:
        raise CliError(f"unknown game {game!r}; games are {', '.join(KINDS)}")
    return game


def _show(game: dict[str, Any]) -> None:
    players = " vs ".join(f"{p['id']} ({p['mark']})" for p in game["players"])
    console.print(f"[bold]{game['game']}[/] {game['id']} in {game['room']}: {players}")
    console.print(game["board"], markup=False)
    if game["result"] is None:
        legal = " ".join(str(m) for m in game["legal_moves"])
        console.print(f"{game['to_move']} to move; legal: {legal}")
    elif game["result"] == "draw":
        console.print("a draw")
    else:
        console.print(f"{game['winner']} won ({game['result']}) {game.get('reason', '')}".rstrip())


@app.command("start")
def start(
    game: str = typer.Argument(..., help="tic-tac-toe or connect-four."),
    room: str = typer.Option("lobby", "--room", "-r", help="The room it is played in."),
    player: list[str] = typer.Option(
        ..., "--player", "-p", help="Twice: a persona id, or human:NAME. The first moves first."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the game's id."),
) -> None:
    """Start a game in a room; personas play their own turns."""
    if len(player) != 2:
        raise CliError("a game has two players: give --player twice")
    body = {"game": _kind(game), "room": room, "players": [_player(p) for p in player]}
    started = gateway_client.request("POST", "/v1/games", json=body)
    if quiet:
        console.print(started["id"])
    else:
        _show(started)


@app.command("move")
def move(
    game: str = typer.Argument(..., help="The game's id."),
    at: int = typer.Argument(..., help="Cell 1-9 (tic-tac-toe) or column 1-7 (Connect Four)."),
    player: str = typer.Option(..., "--as", help="The human player you are."),
) -> None:
    """Play a human player's move."""
    body = {"player": player, "move": at}
    _show(gateway_client.request("POST", f"/v1/games/{game}/moves", json=body))


@app.command("forfeit")
def forfeit(
    game: str = typer.Argument(..., help="The game's id."),
    player: str = typer.Option(..., "--as", help="The human player you are."),
) -> None:
    """Give up a game as a human player."""
    body = {"player": player}
    _show(gateway_client.request("POST", f"/v1/games/{game}/forfeit", json=body))


@app.command("show")
def show(
    game: str = typer.Argument(..., help="The game's id."),
    wait: float = typer.Option(
        0.0, help="Wait up to this many seconds for the game to end (personas playing)."
    ),
) -> None:
    """A game: its board, its moves, whose turn it is."""
    deadline = time.monotonic() + wait
    shown = gateway_client.request("GET", f"/v1/games/{game}")
    while shown["result"] is None and time.monotonic() < deadline:
        time.sleep(0.5)
        shown = gateway_client.request("GET", f"/v1/games/{game}")
    _show(shown)
    moves = " ".join(str(m) for m in shown["moves"]) or "none yet"
    console.print(f"moves: {moves}")


@app.command("ls")
def ls(room: str = typer.Option("", "--room", "-r", help="Only this room's games.")) -> None:
    """Games, and how each stands."""
    path = f"/v1/games?room={room}" if room else "/v1/games"
    games = gateway_client.request("GET", path)["games"]
    print_table(
        "games",
        ("id", "game", "room", "players", "moves", "state"),
        [
            (
                g["id"],
                g["game"],
                g["room"],
                " vs ".join(p["id"] for p in g["players"]),
                str(len(g["moves"])),
                f"{g['to_move']} to move"
                if g["result"] is None
                else "draw"
                if g["result"] == "draw"
                else f"{g['winner']} won",
            )
            for g in games
        ],
    )


@app.command("leaderboard")
def leaderboard(game: str = typer.Argument(..., help="tic-tac-toe or connect-four.")) -> None:
    """Bradley-Terry ratings from every finished game (95% intervals)."""
    table = gateway_client.request("GET", f"/v1/games/leaderboard/{_kind(game)}")["standings"]
    print_table(
        f"{game}: Bradley-Terry ratings",
        ("player", "rating", "95% interval", "wins", "games"),
        [
            (
                s["contestant"],
                f"{s['rating']:.0f}",
                f"{s['low']:.0f}-{s['high']:.0f}",
                f"{s['wins']:g}",
                str(s["games"]),
            )
            for s in table
        ],
    )
