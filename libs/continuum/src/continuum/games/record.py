"""A game as its events fold it, and the referee's decisions: who may move,
whether the move is legal, when the game is over. Pure: the academy appends
what ``referee_move`` returns, persona-runtime reads whose turn it is.

The events are ``GameStarted``, ``MovePlayed`` and ``GameEnded`` on
``evt.academy.game.<id>``; a move is appended with the game's version as
the expected one, so two moves racing for one turn cannot both land.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from continuum.events.academy import GameEnded, GamePlayer, GameStarted, MovePlayed
from continuum.games.rules import MARKS, IllegalMove, Position


@dataclass
class GameRecord:
    game_id: str
    started: GameStarted
    position: Position
    #: The stream sequence of the game's last event: a move is appended
    #: expecting it (``Nats-Expected-Last-Subject-Sequence``).
    version: int = 0
    ended: GameEnded | None = None
    players: list[GamePlayer] = field(default_factory=list)

    @property
    def over(self) -> bool:
        return self.ended is not None

    @property
    def to_move(self) -> GamePlayer | None:
        """Whose turn it is, or None once the game is over."""
        if self.ended is not None:
            return None
        return self.players[self.position.to_move]

    def mark_of(self, player_id: str) -> str:
        return MARKS[[p.id for p in self.players].index(player_id)]

    def scores(self) -> dict[str, float] | None:
        """The finished game as each player's score: 1 a win, 0.5 a draw, 0 a
        loss (what the academy's Bradley-Terry leaderboard takes)."""
        if self.ended is None:
            return None
        a, b = self.players[0].id, self.players[1].id
        if self.ended.winner is None:
            return {a: 0.5, b: 0.5}
        won = 1.0 if self.ended.winner == a else 0.0
        return {a: won, b: 1.0 - won}

    def describe(self) -> dict[str, object]:
        to_move = self.to_move
        return {
            "id": self.game_id,
            "game": self.started.game,
            "room": self.started.room,
            "players": [
                {"id": p.id, "kind": p.kind, "mark": MARKS[i]} for i, p in enumerate(self.players)
            ],
            "moves": list(self.position.moves),
            "board": self.position.board(),
            "legal_moves": self.position.legal_moves() if not self.over else [],
            "to_move": to_move.id if to_move is not None else None,
            "result": self.ended.result if self.ended is not None else None,
            "winner": self.ended.winner if self.ended is not None else None,
            "reason": self.ended.reason if self.ended is not None else "",
            "version": self.version,
        }


class GameBook:
    """Every game, folded from its events."""

    def __init__(self) -> None:
        self.games: dict[str, GameRecord] = {}

    def apply(self, game_id: str, payload: BaseModel, seq: int) -> GameRecord | None:
        """Fold one event (``seq``: its stream sequence)."""
        if isinstance(payload, GameStarted):
            if game_id not in self.games:
                self.games[game_id] = GameRecord(
                    game_id,
                    payload,
                    Position.start(payload.game),
                    version=seq,
                    players=list(payload.players),
                )
            return self.games[game_id]
        record = self.games.get(game_id)
        if record is None:
            return None
        record.version = seq
        if isinstance(payload, MovePlayed):
            record.position = record.position.play(payload.move)
        elif isinstance(payload, GameEnded):
            record.ended = payload
        return record

    def results(self, game: str) -> dict[str, dict[str, float]]:
        """Every finished game of a kind: game id -> player -> score."""
        return {
            g.game_id: scores
            for g in self.games.values()
            if g.started.game == game and (scores := g.scores()) is not None
        }

    def active_in(self, room: str) -> list[GameRecord]:
        return [g for g in self.games.values() if g.started.room == room and not g.over]


def referee_move(record: GameRecord, player: str, move: int) -> list[BaseModel]:
    """The events a move makes (the move, and the end if it ends the game), or
    ``IllegalMove`` with the reason the player is told."""
    if record.ended is not None:
        raise IllegalMove(f"game {record.game_id} is over ({describe_end(record)})")
    ids = [p.id for p in record.players]
    if player not in ids:
        raise IllegalMove(f"{player} is not playing game {record.game_id} ({' vs '.join(ids)})")
    to_move = record.to_move
    assert to_move is not None
    if player != to_move.id:
        raise IllegalMove(f"out of turn: it is {to_move.id}'s move ({record.position.mark})")
    after = record.position.play(move)  # IllegalMove names the problem
    events: list[BaseModel] = [MovePlayed(player=player, move=move, ply=len(after.moves))]
    won = after.winner()
    if won is not None:
        events.append(GameEnded(result="win", winner=ids[won], reason=f"{MARKS[won]} has a line"))
    elif not after.legal_moves():
        events.append(GameEnded(result="draw", reason="the board is full"))
    return events


def referee_forfeit(record: GameRecord, player: str, reason: str) -> GameEnded:
    if record.ended is not None:
        raise IllegalMove(f"game {record.game_id} is over ({describe_end(record)})")
    ids = [p.id for p in record.players]
    if player not in ids:
        raise IllegalMove(f"{player} is not playing game {record.game_id}")
    other = ids[1 - ids.index(player)]
    return GameEnded(result="forfeit", winner=other, reason=f"{player} gave up: {reason}"[:500])


def describe_end(record: GameRecord) -> str:
    ended = record.ended
    if ended is None:
        return "in play"
    if ended.result == "draw":
        return "a draw"
    return f"{ended.winner} won ({ended.reason})" if ended.reason else f"{ended.winner} won"
