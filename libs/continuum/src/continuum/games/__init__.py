"""Turn-based games with full state, for personas to play and be rated on."""

from continuum.games.players import minimax_move, move_values, random_move
from continuum.games.rules import GAMES, GameName, IllegalMove, Position, parse_move

__all__ = [
    "GAMES",
    "GameName",
    "IllegalMove",
    "Position",
    "minimax_move",
    "move_values",
    "parse_move",
    "random_move",
]
