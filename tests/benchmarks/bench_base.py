"""Which built-in base model is easiest to teach? (issue: learning that generalizes)

The full learning benchmark (``bench_learning.py``) costs 10 CPU-minutes per
skill and seed: too dear to compare base models with. This one screens them:
each variant of the built-in model (a pre-training mixture, a build seed, a
length) is built, and a LoRA layer is trained on each probe skill for the
same fixed number of steps with the recipe's fixed choices (rank 64 on every
linear module and the head, batch 32, learning rate 1e-3, cosine schedule,
bfloat16), then scored by exact match on held-out exercises. The probe
skills are the ones a base decides: generated families whose seeds missed
the target or were lost by an earlier build, and the shipped skills. Same
steps for every base, so a higher score means a base that learns faster;
the winner is then measured in full by ``bench_learning.py``.

    python tests/benchmarks/bench_base.py --variants 900-open,900-open-seed1 --steps 400
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from continuum_academy import recipe
from continuum_academy.curriculum import Curriculum
from continuum_academy.exams import accuracy, passes
from continuum_academy.lab.data import SkillExamples
from continuum_academy.lab.model import Lab
from continuum_academy.lab.probe import token_accuracy
from continuum_academy.lab.training import TrainingPlan, train
from continuum_academy.render import render
from continuum_academy.skills import Exercise, Skill, draw
from continuum_academy.skills.families import generated_skill, to_yaml
from continuum_academy.skills.yaml_skill import parse_skill_document
from continuum_lm import builtin

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section

console = Console(highlight=False)
ROOT = Path(__file__).parents[2]
CACHE = ROOT / ".bench-cache"
SMALL = builtin.PRESETS["small"]

OPEN_300 = replace(SMALL, steps=300, open_values=True)
#: name -> (preset, build seed). "900-open" is the shipped small preset; the
#: 300-step builds are the earlier one ("300") and its variants.
VARIANTS: dict[str, tuple[builtin.Preset, int]] = {
    "300": (replace(OPEN_300, open_values=False), 0),
    "300-seed1": (replace(OPEN_300, open_values=False), 1),
    "300-open": (OPEN_300, 0),
    "300-open-seed1": (OPEN_300, 1),
    "900": (replace(OPEN_300, steps=900, open_values=False), 0),
    "900-open": (replace(OPEN_300, steps=900), 0),
    "900-open-seed1": (replace(OPEN_300, steps=900), 1),
}
PROBES = "cipher:1,rotate:2,fields:0,arith:1,extraction"


def base(name: str) -> Path:
    preset, seed = VARIANTS[name]
    path = CACHE / f"base-{name}"
    marker = path / builtin.MARKER
    if marker.exists() and json.loads(marker.read_text()).get("config") == asdict(preset):
        return path
    console.print(f"building {name} ...")
    builtin.build(path, "small", preset=preset, seed=seed)
    return path


def probe_skill(spec: str, shipped: dict[str, Skill]) -> tuple[str, Skill]:
    name, _, seed = spec.partition(":")
    if name in shipped:
        return spec, shipped[name]
    generated = generated_skill(name, int(seed))
    return spec, parse_skill_document(to_yaml(generated, 2000, int(seed)), generated.name)


def score(lab: Lab, skill: Skill, steps: int, heldout_count: int) -> tuple[float, float, float]:
    heldout = draw(skill, "heldout", heldout_count, seed=10_000)

    def rendered(e: Exercise) -> str:
        return render(lab.tokenizer, e)

    plan = TrainingPlan(
        rank=recipe.RANK,
        alpha=float(recipe.ALPHA),
        learning_rate=recipe.LEARNING_RATE,
        steps=steps,
        batch=recipe.BATCH,
        schedule="cosine",
        precision="bfloat16",
        checkpoint_every=steps,
    )
    started = time.process_time()
    result = train(lab, SkillExamples([], skill, rendered, 1.0), plan)
    cpu = time.process_time() - started
    exact = accuracy(passes(lab, result.weights, heldout))
    pairs = [(rendered(e), e.gold or "") for e in heldout]
    return exact, token_accuracy(lab, result.weights, pairs), cpu / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", default="900-open,900-open-seed1,900")
    parser.add_argument("--probes", default=PROBES)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", type=Path, help="docs/benchmarks.md to update")
    parser.add_argument("--json", type=Path, help="append the rows here (JSON lines)")
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="*",
        default=[],
        help="rows of earlier runs (JSON lines, as --json writes) to report first",
    )
    args = parser.parse_args()
    shipped = Curriculum.load().skills
    probes = [probe_skill(s, shipped) for s in args.probes.split(",") if s]
    rows: list[dict[str, Any]] = [
        json.loads(line)
        for earlier in args.from_json
        for line in earlier.read_text().splitlines()
        if line.strip()
    ]
    for variant in [v for v in args.variants.split(",") if v]:
        path = base(variant)
        build = json.loads((path / builtin.MARKER).read_text())
        lab = Lab(path, threads=args.threads)
        row: dict[str, Any] = {
            "variant": variant,
            "build_seconds": build["train_seconds"],
            "final_loss": build["final_loss"],
            "scores": {},
            "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        }
        for spec, skill in probes:
            after, tokens, cpu = score(lab, skill, args.steps, args.heldout)
            row["scores"][spec] = after
            row.setdefault("tokens", {})[spec] = tokens
            console.print(
                f"{variant:>14} {spec:>12}: {after:6.1%} exact, {tokens:6.1%} of tokens "
                f"({cpu:.1f} CPU-min)"
            )
        rows.append(row)
        if args.json:
            with args.json.open("a") as f:
                f.write(json.dumps(row) + "\n")
    section = report(rows, [s for s, _ in probes], args.steps, args.heldout, args.threads)
    console.print(section)
    if args.write:
        write_section(args.write, "base", section)


def report(
    rows: list[dict[str, Any]], probes: list[str], steps: int, heldout: int, threads: int
) -> str:
    started = sorted(r["started"] for r in rows if r.get("started"))
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    if started:
        when = started[0] if started[0] == started[-1] else f"{started[0]} to {started[-1]}"
    when += " UTC" + (" (rows of several runs)" if len(set(started)) > 1 else "")
    lines = [
        "## Which base model learns fastest (screening)",
        "",
        "Command: `python tests/benchmarks/bench_base.py`  ",
        f"Run: {when}, {threads} threads, Python {platform.python_version()}; each probe "
        f"skill trained {steps} steps (rank {recipe.RANK}, lr {recipe.LEARNING_RATE:g}, "
        f"batch {recipe.BATCH}, cosine, bfloat16); held-out exact match on {heldout} exercises "
        "(in brackets: the share of answer tokens right, teacher-forced).",
        "",
        "| base | build s | final loss | " + " | ".join(probes) + " | mean | worst |",
        "|---|---:|---:|" + "---:|" * (len(probes) + 2),
    ]
    for r in rows:
        values = [r["scores"][p] for p in probes]
        cells = " | ".join(f"{r['scores'][p]:.0%} ({r['tokens'][p]:.0%})" for p in probes)
        lines.append(
            f"| {r['variant']} | {r['build_seconds']:.0f} | {r['final_loss']:.3f} | {cells} | "
            f"{statistics.mean(values):.0%} | {min(values):.0%} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
