"""Do evolution's training mutations help? (issue: learning that generalizes)

An evolution run (``continuum_academy.evolution.Evolution``, the academy's own
code, at its defaults: the recipe's rank and learning rate, 60-step
mutations on the member's failures at a step scaled by its error) over two
generated skills drawn fresh for the seed, written as YAML files of 2,000
exercises as a user brings them. Every child made by a training mutation
alone records its parent's dev score on the skill it was trained on; its own
score on the same dev exercises says whether the mutation improved, harmed
or left that skill. Reported: the counts and shares, overall and by the
parent's score (below 50%: learning; 50% or more: refining, where the old
mutations did nothing or harm), and the median change.

    python tests/benchmarks/bench_mutations.py --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from continuum_academy.evolution import Evolution, EvolutionConfig, GenerationReport
from continuum_academy.lab.model import Lab
from continuum_academy.skills.families import generated_skill, to_yaml
from continuum_academy.skills.yaml_skill import parse_skill_document

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section
from bench_learning import CACHE, EXERCISES, ensure_model

console = Console(highlight=False)
SKILLS = "fields:1,extract:0"


def effects(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Counts, shares and the median change of a list of mutations."""
    changes = [r["after"] - r["before"] for r in rows]
    out: dict[str, Any] = {
        "count": len(rows),
        "improved": sum(c > 0 for c in changes),
        "harmed": sum(c < 0 for c in changes),
        "unchanged": sum(c == 0 for c in changes),
    }
    out["median"] = statistics.median(changes) if changes else 0.0
    return out


def run(skills: str, population: int, generations: int, seed: int, threads: int) -> dict[str, Any]:
    lab = Lab(ensure_model(), threads=threads)
    drawn = {}
    for spec in skills.split(","):
        family, family_seed = spec.split(":")
        generated = generated_skill(family, int(family_seed))
        document = to_yaml(generated, EXERCISES, int(family_seed))
        drawn[generated.name] = parse_skill_document(document, generated.name)
    config = EvolutionConfig(
        skills=tuple(drawn), population=population, generations=generations, seed=seed
    )
    workdir = CACHE / "mutations"
    shutil.rmtree(workdir, ignore_errors=True)  # a new run, not a resume of the last one
    mutations: dict[str, dict[str, Any]] = {}
    best: list[dict[str, float]] = []

    def on_generation(report: GenerationReport) -> None:
        for m in report.members:
            if m.mutated and m.before is not None and m.member_id not in mutations:
                mutations[m.member_id] = {
                    "generation": report.generation,
                    "skill": m.mutated,
                    "before": m.before,
                    "after": m.scores[m.mutated],
                    "origin": m.origin,
                }
        best.append({s: max(m.scores[s] for m in report.members) for s in config.skills})
        console.print(
            f"generation {report.generation}: best {best[-1]}, "
            f"{len(mutations)} mutations so far, {report.seconds:.0f} s"
        )

    started = time.perf_counter()
    Evolution(lab, drawn, config, workdir, on_generation).run()
    rows = list(mutations.values())
    return {
        "config": config.to_dict(),
        "skills": {name: skill.description for name, skill in drawn.items()},
        "mutations": rows,
        "best": best,
        "seconds": time.perf_counter() - started,
        "all": effects(rows),
        "learning": effects([r for r in rows if r["before"] < 0.5]),
        "refining": effects([r for r in rows if r["before"] >= 0.5]),
    }


def table(result: dict[str, Any]) -> str:
    lines = [
        "| parent's score on the skill | mutations | improved | harmed | unchanged "
        "| median change |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for key, label in (("learning", "below 50%"), ("refining", "50% or more"), ("all", "all")):
        e = result[key]
        n = max(1, e["count"])
        lines.append(
            f"| {label} | {e['count']} | {e['improved']} ({e['improved'] / n:.0%}) | "
            f"{e['harmed']} ({e['harmed'] / n:.0%}) | {e['unchanged']} ({e['unchanged'] / n:.0%}) "
            f"| {e['median'] * 100:+.1f} points |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skills", default=SKILLS, help="family:seed,... of generated skills")
    parser.add_argument("--population", type=int, default=8)
    parser.add_argument("--generations", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", type=Path, help="docs/benchmarks.md to update")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    result = run(args.skills, args.population, args.generations, args.seed, args.threads)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    c = result["config"]
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    skills = "; ".join(f"`{n}` ({d})" for n, d in result["skills"].items())
    section = (
        "## Evolution's training mutations\n\n"
        f"Command: `make bench` (`bench_mutations.py`)  \nRun: {when} on {args.threads} "
        f"threads, Python {platform.python_version()}, {result['seconds'] / 60:.0f} minutes; "
        f"the built-in model (small preset); an evolution run at the academy's defaults "
        f"(population {c['population']}, {c['generations']} generations, rank {c['rank']}, "
        f"learning rate {c['learning_rate']:g}, {c['train_steps']}-step mutations, dev sets "
        f"of {c['dev_exercises']}) over two generated skills: {skills}. Each child made by a "
        "training mutation alone, judged on the skill it was trained on, against its "
        "parent's score on the same dev exercises.\n\n" + table(result) + "\n"
    )
    console.print(section)
    if args.write:
        write_section(args.write, "mutations", section)


if __name__ == "__main__":
    main()
