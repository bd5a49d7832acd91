"""Games benchmark: a persona's win rate against a random and a minimax
player, before and after academy training on the game skill.

The player is the built-in model (small preset) choosing its move exactly as
a persona does in a room (``continuum_lm.choice``: each legal move scored as
its reply to the position's prompt, the likeliest played), with the prompt
the academy's game skill renders (``continuum.games.prompt``). It plays X in
half the games and O in the other half; random opponents are seeded, so the
before and after games are the same games up to the model's choices.
Training is the academy's automatic job on the skill (``bench_learning.
run_one``: the flag-free recipe, a CPU-minute budget), and the held-out
accuracy is the share of held-out positions where its move is a best move.

Connect Four's prompts are longer (a 6x7 board and up to 40 moves), so a
training step costs more and its budget is larger (``BUDGETS``).

Usage: python tests/benchmarks/bench_games.py [--games N] [--cpu-minutes M]
       [--skills tic-tac-toe,connect-four] [--json ROWS] [--from-json ROWS...]
       [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from continuum.games import Position, minimax_move, random_move
from continuum_academy.lab.model import Lab
from continuum_academy.render import render
from continuum_academy.skills.games import GameSkill
from continuum_lm.choice import option_logprobs

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section
from bench_learning import ensure_model, run_one

console = Console()
OPPONENTS = ("random", "minimax")
#: CPU-minutes of training per game (the automatic recipe needs 150 steps at least).
BUDGETS = {"tic-tac-toe": 5.0, "connect-four": 15.0}


def model_move(lab: Lab, model: Any, skill: GameSkill, position: Position) -> int:
    legal = position.legal_moves()
    prompt = render(lab.tokenizer, skill.exercise_for(position))
    scores = option_logprobs(model, lab.tokenizer, prompt, [str(m) for m in legal])
    return legal[max(range(len(legal)), key=lambda i: scores[i])]


def play(lab: Lab, weights: Any, skill: GameSkill, opponent: str, games: int) -> dict[str, int]:
    """Wins, draws and losses of the model (under ``weights``) over ``games`` games."""
    tally = {"win": 0, "draw": 0, "loss": 0}
    with lab.using(weights) as model:
        for n in range(games):
            rng = random.Random(n)
            position = Position.start(skill.game)
            me = n % 2  # X in even games, O in odd ones
            while not position.over:
                if position.to_move == me:
                    move = model_move(lab, model, skill, position)
                elif opponent == "random":
                    move = random_move(position, rng)
                else:
                    move = minimax_move(position)
                position = position.play(move)
            won = position.winner()
            tally["draw" if won is None else "win" if won == me else "loss"] += 1
    return tally


def rate(tally: dict[str, int]) -> str:
    games = sum(tally.values())
    return f"{tally['win'] / games:.0%} ({tally['win']}-{tally['draw']}-{tally['loss']})"


def bench(game: str, games: int, cpu_minutes: float, seed: int) -> dict[str, Any]:
    lab = Lab(ensure_model(), threads=2)
    skill = GameSkill(game)  # type: ignore[arg-type]
    started = time.perf_counter()
    before = {o: play(lab, None, skill, o, games) for o in OPPONENTS}
    console.print(f"{game} before: " + ", ".join(f"{o} {rate(t)}" for o, t in before.items()))
    kept: list[Any] = []
    row = run_one(lab, skill, seed, cpu_minutes, keep=kept)
    after = {o: play(lab, kept[0], skill, o, games) for o in OPPONENTS}
    console.print(f"{game} after: " + ", ".join(f"{o} {rate(t)}" for o, t in after.items()))
    return {
        "game": game,
        "games": games,
        "before": before,
        "after": after,
        "heldout_before": row["before"],
        "heldout_after": row["after"],
        "cpu_minutes": row["cpu_minutes"],
        "budget": cpu_minutes,
        "steps": row["steps"],
        "seconds": time.perf_counter() - started,
    }


def render_section(rows: list[dict[str, Any]], command: str) -> str:
    lines = [
        "## Games (win rate before and after academy training)",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; the built-in model (small preset); seed 0.",
        "",
        "The model picks its move as a persona does in a room (each legal move scored as its "
        "reply, the likeliest played), before and after a layer trained by the academy's "
        "automatic job on the game skill (positions from random play, the gold answer a "
        "minimax search's move). Wins-draws-losses in brackets; it plays X in half the games.",
        "",
        "| game | opponent | games | win rate before | after | best move on held-out "
        "positions, before | after | training |",
        "|---|---|---:|---|---|---:|---:|---|",
    ]
    for r in rows:
        for opponent in OPPONENTS:
            lines.append(
                f"| {r['game']} | {opponent} | {r['games']} | {rate(r['before'][opponent])} "
                f"| {rate(r['after'][opponent])} | {r['heldout_before']:.1%} "
                f"| {r['heldout_after']:.1%} | {r['steps']} steps, "
                f"{r['cpu_minutes']:.1f} of {r['budget']:g} CPU-min |"
            )
    lines += [
        "",
        "Minimax never loses tic-tac-toe (it searches to the end), so against it a draw is "
        "the best result there is; Connect Four's minimax searches four plies. The held-out "
        "column is the academy's exam: the move the model *writes* (greedy), graded a pass "
        "when the search values it as highly as its own; untrained, the model writes no move "
        "at all, which is why a persona picks among the legal moves by likelihood instead. "
        "Training stops early on a plateau of dev accuracy, or at its budget.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skills", default="tic-tac-toe,connect-four")
    parser.add_argument("--games", type=int, default=40)
    parser.add_argument("--cpu-minutes", type=float, help="Every game's budget (else BUDGETS).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="Also write the rows here.")
    parser.add_argument("--from-json", type=Path, nargs="*", help="Render saved rows only.")
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    if args.from_json:
        rows = [row for path in args.from_json for row in json.loads(path.read_text())]
    else:
        rows = [
            bench(game, args.games, args.cpu_minutes or BUDGETS[game], args.seed)
            for game in args.skills.split(",")
            if game
        ]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    command = "make bench" if args.write else " ".join(["python", *sys.argv])
    section = render_section(rows, command)
    console.print(section)
    if args.write:
        write_section(args.write, "games", section)


if __name__ == "__main__":
    main()
