"""The rules of the turn-based games personas play: tic-tac-toe and Connect
Four. Pure and immutable: a ``Position`` is the whole state (board, whose
turn, the moves so far), ``play`` returns the next one or raises
``IllegalMove`` with the reason a player is told.

Moves are numbers as a person says them: tic-tac-toe's cells 1-9 row by row
from the top left, Connect Four's columns 1-7 from the left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

GameName = Literal["tic-tac-toe", "connect-four"]
GAMES: tuple[GameName, ...] = ("tic-tac-toe", "connect-four")
MARKS = ("X", "O")
EMPTY = "."


class IllegalMove(ValueError):
    """A move the rules refuse; the message says why."""


@dataclass(frozen=True)
class Shape:
    rows: int
    columns: int
    #: In a row to win.
    line: int
    #: Connect Four's discs fall to the lowest free cell of a column.
    gravity: bool

    @property
    def moves(self) -> int:
        return self.columns if self.gravity else self.rows * self.columns


SHAPES: dict[GameName, Shape] = {
    "tic-tac-toe": Shape(3, 3, 3, gravity=False),
    "connect-four": Shape(6, 7, 4, gravity=True),
}


def _lines(shape: Shape) -> tuple[tuple[int, ...], ...]:
    """Every run of ``shape.line`` cells in a row, column or diagonal."""
    found = []
    for r in range(shape.rows):
        for c in range(shape.columns):
            for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
                end_r, end_c = r + dr * (shape.line - 1), c + dc * (shape.line - 1)
                if 0 <= end_r < shape.rows and 0 <= end_c < shape.columns:
                    found.append(
                        tuple((r + dr * i) * shape.columns + c + dc * i for i in range(shape.line))
                    )
    return tuple(found)


LINES = {name: _lines(shape) for name, shape in SHAPES.items()}


@dataclass(frozen=True)
class Position:
    game: GameName
    #: Row-major, the top row first; "X", "O" or ".".
    cells: tuple[str, ...]
    moves: tuple[int, ...] = ()

    @classmethod
    def start(cls, game: GameName) -> Position:
        if game not in SHAPES:
            raise IllegalMove(f"unknown game {game!r}; games are {', '.join(GAMES)}")
        shape = SHAPES[game]
        return cls(game, (EMPTY,) * (shape.rows * shape.columns))

    @classmethod
    def replay(cls, game: GameName, moves: list[int] | tuple[int, ...]) -> Position:
        position = cls.start(game)
        for move in moves:
            position = position.play(move)
        return position

    @property
    def shape(self) -> Shape:
        return SHAPES[self.game]

    @property
    def to_move(self) -> int:
        """0 for X (who starts), 1 for O."""
        return len(self.moves) % 2

    @property
    def mark(self) -> str:
        return MARKS[self.to_move]

    def winner(self) -> int | None:
        """0 or 1 once someone has a line, else None."""
        for line in LINES[self.game]:
            first = self.cells[line[0]]
            if first != EMPTY and all(self.cells[i] == first for i in line):
                return MARKS.index(first)
        return None

    @property
    def over(self) -> bool:
        return self.winner() is not None or not self.legal_moves()

    def legal_moves(self) -> list[int]:
        if self.winner() is not None:
            return []
        shape = self.shape
        if shape.gravity:
            return [c + 1 for c in range(shape.columns) if self.cells[c] == EMPTY]
        return [i + 1 for i, cell in enumerate(self.cells) if cell == EMPTY]

    def play(self, move: int) -> Position:
        shape = self.shape
        if self.winner() is not None:
            raise IllegalMove(f"the game is over: {MARKS[self.winner() or 0]} has won")
        if not self.legal_moves():
            raise IllegalMove("the game is over: a draw")
        what = "column" if shape.gravity else "cell"
        if isinstance(move, bool) or not isinstance(move, int):
            raise IllegalMove(f"a move is a {what} number, not {move!r}")
        if not 1 <= move <= shape.moves:
            raise IllegalMove(f"there is no {what} {move}: {what}s are 1 to {shape.moves}")
        if shape.gravity:
            column = move - 1
            free = [r for r in range(shape.rows) if self.cells[r * shape.columns + column] == EMPTY]
            if not free:
                raise IllegalMove(f"column {move} is full")
            index = free[-1] * shape.columns + column
        else:
            index = move - 1
            if self.cells[index] != EMPTY:
                raise IllegalMove(f"cell {move} is taken by {self.cells[index]}")
        cells = list(self.cells)
        cells[index] = self.mark
        return Position(self.game, tuple(cells), (*self.moves, move))

    def board(self) -> str:
        """The board as text, with the move numbers a player uses."""
        shape = self.shape
        rows = [
            " ".join(self.cells[r * shape.columns : (r + 1) * shape.columns])
            for r in range(shape.rows)
        ]
        if shape.gravity:
            return "\n".join([*rows, " ".join(str(c + 1) for c in range(shape.columns))])
        numbered = [
            " ".join(
                cell if cell != EMPTY else str(r * shape.columns + c + 1)
                for c, cell in enumerate(self.cells[r * shape.columns : (r + 1) * shape.columns])
            )
            for r in range(shape.rows)
        ]
        return "\n".join(numbered)


_NUMBER = re.compile(r"(?<![0-9])([1-9])(?![0-9])")


def parse_move(text: str) -> int | None:
    """The move a player's text names: its first single digit 1-9 (so "column 4",
    "4", "I play 4." all read as 4), or None."""
    found = _NUMBER.search(text)
    return int(found.group(1)) if found else None
