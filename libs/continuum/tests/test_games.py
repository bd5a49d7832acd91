"""Games: the rules, the reference players, the referee's fold and decisions."""

from __future__ import annotations

import random

import pytest

from continuum.events.academy import GameEnded, GamePlayer, GameStarted, MovePlayed
from continuum.games import IllegalMove, Position, minimax_move, parse_move, random_move
from continuum.games.prompt import exercise, rubric
from continuum.games.record import GameBook, referee_forfeit, referee_move


def test_connect_four_discs_fall_and_four_in_a_row_wins() -> None:
    position = Position.replay("connect-four", [4, 4, 3, 3, 2, 2])
    assert position.board().splitlines()[-3:] == [
        ". O O O . . .",
        ". X X X . . .",
        "1 2 3 4 5 6 7",
    ]
    won = position.play(1)
    assert won.winner() == 0 and won.over and won.legal_moves() == []
    with pytest.raises(IllegalMove, match="the game is over"):
        won.play(5)


@pytest.mark.parametrize(
    ("game", "moves", "move", "reason"),
    [
        ("connect-four", [1] * 6, 1, "column 1 is full"),
        ("connect-four", [], 8, "there is no column 8: columns are 1 to 7"),
        ("tic-tac-toe", [5], 5, "cell 5 is taken by X"),
        ("tic-tac-toe", [], 0, "there is no cell 0"),
        ("tic-tac-toe", [], True, "a move is a cell number"),
        ("chess", [], 1, "unknown game 'chess'"),
    ],
)
def test_illegal_moves_are_refused_with_the_reason(
    game: str, moves: list[int], move: int, reason: str
) -> None:
    with pytest.raises(IllegalMove, match=reason):
        Position.replay(game, moves).play(move)  # type: ignore[arg-type]


def test_minimax_never_loses_tic_tac_toe_and_beats_random_at_connect_four() -> None:
    rng = random.Random(0)
    for game, games in (("tic-tac-toe", 30), ("connect-four", 6)):
        for n in range(games):
            position = Position.start(game)  # type: ignore[arg-type]
            searcher = n % 2  # minimax plays X in even games, O in odd ones
            while not position.over:
                if position.to_move == searcher:
                    move = minimax_move(position)
                else:
                    move = random_move(position, rng)
                position = position.play(move)
            assert position.winner() in (searcher, None)
            if game == "connect-four":
                assert position.winner() == searcher
    perfect = Position.start("tic-tac-toe")
    while not perfect.over:
        perfect = perfect.play(minimax_move(perfect))
    assert perfect.winner() is None  # perfect play draws


def test_a_player_reads_a_move_as_a_person_says_it() -> None:
    assert parse_move("I play column 4.") == 4
    assert parse_move("7") == 7
    assert parse_move("column 12 or 3") == 3
    assert parse_move("no idea") is None


def test_the_prompt_shows_board_legal_moves_history_and_refusal() -> None:
    position = Position.replay("tic-tac-toe", [5, 1])
    text = exercise(position, refused="cell 5 is taken by X")
    assert "O 2 3\n4 X 6\n7 8 9" in text
    assert "Legal cells: 2 3 4 6 7 8 9" in text and "Moves so far: X5 O1" in text
    assert "Your last try was refused: cell 5 is taken by X" in text
    assert "Moves so far" not in exercise(position, history=False)
    assert "as X" in rubric(position) and "cell" in rubric(position)


def _started(book: GameBook) -> str:
    players = [GamePlayer(id="ada", kind="human"), GamePlayer(id="helper-ai", kind="persona")]
    book.apply(
        "g1", GameStarted(game="tic-tac-toe", room="lobby", players=players, started_by="t"), 7
    )
    return "g1"


def test_the_referee_checks_turns_and_ends_the_game() -> None:
    book = GameBook()
    record = book.games[_started(book)]
    assert record.version == 7 and record.to_move is not None and record.to_move.id == "ada"
    with pytest.raises(IllegalMove, match="out of turn: it is ada's move"):
        referee_move(record, "helper-ai", 1)
    with pytest.raises(IllegalMove, match="bob is not playing"):
        referee_move(record, "bob", 1)
    seq = 7
    for player, move in [("ada", 1), ("helper-ai", 4), ("ada", 2), ("helper-ai", 5)]:
        (event,) = referee_move(record, player, move)
        seq += 3  # other subjects' events in between: the version is the stream sequence
        book.apply("g1", event, seq)
    assert record.version == seq
    events = referee_move(record, "ada", 3)
    assert isinstance(events[0], MovePlayed) and isinstance(events[1], GameEnded)
    assert events[1].winner == "ada" and events[1].result == "win"
    for event in events:
        book.apply("g1", event, seq + 1)
    assert record.scores() == {"ada": 1.0, "helper-ai": 0.0}
    assert book.results("tic-tac-toe") == {"g1": {"ada": 1.0, "helper-ai": 0.0}}
    with pytest.raises(IllegalMove, match="is over"):
        referee_move(record, "helper-ai", 9)
    with pytest.raises(IllegalMove, match="is over"):
        referee_forfeit(record, "helper-ai", "tired")


def test_a_forfeit_gives_the_game_to_the_other_player() -> None:
    book = GameBook()
    record = book.games[_started(book)]
    ended = referee_forfeit(record, "helper-ai", "three refused moves")
    assert ended.winner == "ada" and "helper-ai gave up: three refused moves" in ended.reason
