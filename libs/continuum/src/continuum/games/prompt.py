"""A move as an exercise: what a player is shown (GameRAG's context) and what
it answers. persona-runtime's GameRagBuilder and the academy's game skill
both render positions with this, so a layer trained on game exercises
learns exactly the prompt it will see in a room.

State-focused, and small: the board with the numbers a player uses, the
legal moves, the moves so far, and the reason the last try was refused.
No chat history: a game is played on its position.
"""

from __future__ import annotations

from continuum.games.rules import MARKS, Position

TITLES = {"tic-tac-toe": "tic-tac-toe", "connect-four": "Connect Four"}


def rubric(position: Position) -> str:
    what = "column" if position.shape.gravity else "cell"
    goal = position.shape.line
    return (
        f"You play {TITLES[position.game]} as {position.mark}. Get {goal} in a row before "
        f"your opponent. Answer with the number of the {what} you play, nothing else."
    )


def exercise(position: Position, refused: str = "", history: bool = True) -> str:
    """The position as a question (``history=False``: without the moves so far,
    for a context window too small for them)."""
    what = "columns" if position.shape.gravity else "cells"
    lines = [
        position.board(),
        f"You are {position.mark}; your opponent is {MARKS[1 - position.to_move]}.",
        f"Legal {what}: {' '.join(str(m) for m in position.legal_moves())}",
    ]
    if position.moves and history:
        played = " ".join(f"{MARKS[i % 2]}{m}" for i, m in enumerate(position.moves))
        lines.append(f"Moves so far: {played}")
    if refused:
        lines.append(f"Your last try was refused: {refused}")
    lines.append("Your move:")
    return "\n".join(lines)
