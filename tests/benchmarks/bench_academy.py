"""The academy's headline results, measured on the built-in model (small preset).

1. Self-training: held-out exact-match accuracy of the built-in model on a
   skill before and after the academy trains a LoRA layer on the skill's
   gold answers (rendered exactly as a persona sees an exercise), within a
   wall-clock budget on this machine's CPU.
2. Crossover: the arithmetic and strings specialists from (1) merged into
   one layer with peft's add_weighted_adapter (cat, TIES, DARE-TIES, linear),
   on a held-out set mixing both skills, against each parent.
3. Speciation: an evolution run (population 16, 10 generations, arithmetic
   and strings): species at the end, and each species' best member against
   the best generalist on its own skill.

Every number comes with its seed; rerun with the command in the table.

Usage: python tests/benchmarks/bench_academy.py [--part selftrain,crossover,evolution]
       [--budget SECONDS] [--write FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from continuum_academy.curriculum import Curriculum
from continuum_academy.exams import accuracy, passes
from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import TrainingPlan, train
from continuum_academy.render import render
from continuum_academy.skills import draw

console = Console(highlight=False)
ROOT = Path(__file__).parents[2]
CACHE = ROOT / ".bench-cache"
SEED = 0
HELDOUT = 200


def ensure_small() -> Path:
    from continuum_persona.models import builtin

    path = CACHE / "builtin-small"
    if not builtin.is_built(path):
        console.print("building the built-in model (small preset, ~3 min) ...")
        builtin.build(path, "small")
    return path


def self_train(lab: Lab, skill_name: str, budget: float, steps: int) -> dict[str, Any]:
    skill = Curriculum.load().get(skill_name)
    heldout = draw(skill, "heldout", HELDOUT, SEED)
    before = accuracy(passes(lab, None, heldout))
    gold = draw(skill, "train", 4000, SEED)
    examples = [(render(lab.tokenizer, e), e.answer or "") for e in gold]
    plan = TrainingPlan(rank=16, alpha=16, learning_rate=1e-3, steps=steps, batch=32, seed=SEED)
    started, cpu = time.perf_counter(), time.process_time()
    deadline = started + budget
    with Progress(
        TextColumn(f"[bold]{skill_name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("train", total=steps, loss=float("nan"))

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, loss=loss)

        result = train(
            lab,
            examples,
            plan,
            progress=progress,
            should_stop=lambda: time.perf_counter() > deadline,
        )
    seconds = time.perf_counter() - started
    after = accuracy(passes(lab, result.weights, heldout))
    out_dir = CACHE / "academy" / f"specialist-{skill_name}"
    result.weights.save(out_dir)
    return {
        "skill": skill_name,
        "before": before,
        "after": after,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "steps": result.steps_done,
        "loss": result.final_loss,
        "examples": len(examples),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", default="selftrain,crossover,evolution")
    parser.add_argument("--skills", default="arithmetic,strings,extraction")
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds per skill.")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    lab = Lab(ensure_small())
    results: dict[str, Any] = {}
    if "selftrain" in args.part:
        results["selftrain"] = []
        for skill in args.skills.split(","):
            r = self_train(lab, skill, args.budget, args.steps)
            console.print(r)
            results["selftrain"].append(r)
    (CACHE / "academy").mkdir(parents=True, exist_ok=True)
    (CACHE / "academy" / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
