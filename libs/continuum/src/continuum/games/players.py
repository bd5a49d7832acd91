"""Reference players: random (a floor) and minimax (a ceiling), to measure a
persona's play against, and to label the academy's game exercises."""

from __future__ import annotations

import random
from functools import lru_cache

from continuum.games.rules import LINES, MARKS, Position

WIN = 1_000_000


def random_move(position: Position, rng: random.Random) -> int:
    return rng.choice(position.legal_moves())


def _heuristic(position: Position, player: int) -> int:
    """Open lines, weighted by how full they are (for a depth-limited search)."""
    mine, theirs = MARKS[player], MARKS[1 - player]
    total = 0
    for line in LINES[position.game]:
        cells = [position.cells[i] for i in line]
        if theirs not in cells:
            total += 4 ** cells.count(mine) - 1
        if mine not in cells:
            total -= 4 ** cells.count(theirs) - 1
    return total


def _search(position: Position, depth: int, alpha: int, beta: int) -> int:
    """Negamax with alpha-beta: the value for the player to move."""
    won = position.winner()
    if won is not None:  # the previous player won
        return -WIN - depth
    moves = position.legal_moves()
    if not moves:
        return 0
    if depth == 0:
        return _heuristic(position, position.to_move)
    best = -2 * WIN
    for move in _ordered(position, moves):
        value = -_search(position.play(move), depth - 1, -beta, -alpha)
        best = max(best, value)
        alpha = max(alpha, value)
        if alpha >= beta:
            break
    return best


def _ordered(position: Position, moves: list[int]) -> list[int]:
    """Centre first: alpha-beta prunes far more when good moves come early."""
    middle = (position.shape.columns + 1) / 2 if position.shape.gravity else 5
    return sorted(moves, key=lambda m: (abs(m - middle), m))


def minimax_move(position: Position, depth: int | None = None) -> int:
    """The best move by search: tic-tac-toe to the end (perfect play), Connect
    Four ``depth`` plies deep (default 4) with the open-lines heuristic.
    Deterministic: ties go to the move nearest the centre."""
    return _best(position, _default_depth(position) if depth is None else depth)


def _default_depth(position: Position) -> int:
    return 9 if position.game == "tic-tac-toe" else 4


def move_values(position: Position, depth: int | None = None) -> dict[int, int]:
    """Each legal move's value for the player to move (higher is better; the
    same search as ``minimax_move``), so a grader can accept any best move."""
    depth = _default_depth(position) if depth is None else depth
    return {
        move: -_search(position.play(move), depth - 1, -3 * WIN, 3 * WIN)
        for move in position.legal_moves()
    }


@lru_cache(maxsize=50_000)
def _best(position: Position, depth: int) -> int:
    moves = position.legal_moves()
    if not moves:
        raise ValueError("no legal move: the game is over")
    best_move, best_value = moves[0], -3 * WIN
    alpha, beta = -3 * WIN, 3 * WIN
    for move in _ordered(position, moves):
        value = -_search(position.play(move), depth - 1, -beta, -alpha)
        if value > best_value:
            best_move, best_value = move, value
        alpha = max(alpha, value)
    return best_move
