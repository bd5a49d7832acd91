"""Games as skills: find the best move in a position (tic-tac-toe, Connect Four).

An exercise is a position reached by random play, shown exactly as a
persona sees it in a room (``continuum.games.prompt``), so a layer trained
here plays better there. The gold answer is the reference search's move
(``minimax_move``); the grader accepts any move the search values as
highly, and says when an answer is legal but worse, or not legal at all.
The key is the position itself, so the train and held-out splits never
share one, whatever order of moves reached it.
"""

from __future__ import annotations

import random

from continuum.games import Position, minimax_move, random_move
from continuum.games.prompt import TITLES, exercise, rubric
from continuum.games.rules import GameName
from continuum_academy.skills import Exercise

#: Random plies before the position to solve, at most (the game must still be open).
OPENING = {"tic-tac-toe": 7, "connect-four": 16}


class GameSkill:
    has_gold = True

    def __init__(self, game: GameName) -> None:
        self.game = game
        self.name = game
        self.description = (
            f"Play the best move in a {TITLES[game]} position (graded against a minimax search)."
        )

    def position(self, rng: random.Random) -> Position:
        while True:
            position = Position.start(self.game)
            for _ in range(rng.randint(0, OPENING[self.game])):
                if position.over:
                    break
                position = position.play(random_move(position, rng))
            if not position.over:
                return position

    def exercise_for(self, position: Position) -> Exercise:
        return Exercise(
            skill=self.name,
            key=f"{''.join(position.cells)}",
            prompt=exercise(position),
            answer=str(minimax_move(position)),
            grader={"kind": "game_move", "game": self.game, "moves": list(position.moves)},
            rubric=rubric(position),
            kind=f"{position.mark} to move",
        )

    def generate(self, rng: random.Random) -> Exercise:
        return self.exercise_for(self.position(rng))


class TicTacToe(GameSkill):
    def __init__(self) -> None:
        super().__init__("tic-tac-toe")


class ConnectFour(GameSkill):
    def __init__(self) -> None:
        super().__init__("connect-four")
