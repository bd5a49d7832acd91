"""The academy's headline results, measured on the built-in model (small preset).

1. Self-training: held-out exact-match accuracy of the built-in model on a
   skill before and after the academy trains a LoRA layer on the skill's
   gold answers (rendered exactly as a persona sees an exercise), within a
   wall-clock budget on this machine's CPU.
2. Crossover: an arithmetic and a strings specialist merged into one
   genome, on a held-out set mixing both skills, against each parent:
   related specialists (layers over a shared ancestor, each silent on the
   other's skill) and, for contrast, the unrelated specialists of (1).
3. Speciation: an evolution run (population 16, 10 generations, arithmetic
   and strings, seeded with (2)'s ancestor and related specialists): species
   at the end, and each species' best member against the best generalist on
   its own skill.

Every number comes with its seed; rerun with the command in the table.

Usage: python tests/benchmarks/bench_academy.py [--part selftrain,crossover,evolution]
       [--budget SECONDS] [--write FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from continuum_academy.abtest import evaluate
from continuum_academy.curriculum import Curriculum
from continuum_academy.evolution import (
    Evolution,
    EvolutionConfig,
    GenerationReport,
    best_generalist,
)
from continuum_academy.exams import accuracy, accuracy_by_kind, passes
from continuum_academy.lab.data import MixedExamples, SkillExamples
from continuum_academy.lab.merge import learned_merge, merge
from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import TrainingPlan, train
from continuum_academy.lab.weights import concat, load
from continuum_academy.render import render
from continuum_academy.skills import draw

console = Console(highlight=False)
ROOT = Path(__file__).parents[2]
CACHE = ROOT / ".bench-cache"
SEED = 0
HELDOUT = 200
SKILLS = ("arithmetic", "strings")


def ensure_small() -> Path:
    from continuum_lm import builtin

    path = CACHE / "builtin-small"
    if not builtin.is_built(path):
        console.print("building the built-in model (small preset, ~3 min) ...")
        builtin.build(path, "small")
    return path


def self_train(
    lab: Lab, skill_name: str, budget: float, steps: int, precision: str
) -> dict[str, Any]:
    """Train within ``budget`` seconds: a cosine schedule sized to the budget.

    The step time is measured first (40 steps, counted in the budget), and
    the schedule is laid out over the steps that fit, so the learning rate
    has decayed when the time is up; the deadline still stops it.
    """
    skill = Curriculum.load().get(skill_name)
    heldout = draw(skill, "heldout", HELDOUT, SEED)
    before = accuracy(passes(lab, None, heldout))
    examples = SkillExamples([], skill, partial(render, lab.tokenizer))
    plan = TrainingPlan(
        rank=16,
        alpha=16,
        learning_rate=1e-3,
        steps=steps,
        batch=32,
        seed=SEED,
        schedule="cosine",
        precision=precision,
    )
    started, cpu = time.perf_counter(), time.process_time()
    deadline = started + budget
    probe = train(lab, examples, replace(plan, steps=40, gradient_init_batches=0))
    per_step = probe.seconds / 40
    plan = replace(plan, steps=min(steps, int(0.97 * (deadline - time.perf_counter()) / per_step)))
    result = trained(
        lab, skill_name, examples, plan, should_stop=lambda: time.perf_counter() > deadline
    )
    seconds = time.perf_counter() - started
    results = passes(lab, result.weights, heldout)
    out_dir = CACHE / "academy" / f"specialist-{skill_name}-{precision}"
    result.weights.save(out_dir)
    return {
        "skill": skill_name,
        "before": before,
        "after": accuracy(results),
        "after_by_kind": accuracy_by_kind(heldout, results),
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "steps": result.steps_done,
        "loss": result.final_loss,
        "examples": result.steps_done * plan.batch,
        "planned_steps": plan.steps,
        "precision": precision,
    }


def by_kind(lab: Lab, row: dict[str, Any]) -> dict[str, float]:
    """The per-kind split of a row measured before rows recorded it (its layer is cached)."""
    layer = CACHE / "academy" / f"specialist-{row['skill']}-{row['precision']}"
    heldout = draw(Curriculum.load().get(row["skill"]), "heldout", HELDOUT, SEED)
    results = passes(lab, load(layer), heldout)
    if accuracy(results) != row["after"]:
        raise SystemExit(f"{layer} is not the layer its row measured: rerun --part selftrain")
    return accuracy_by_kind(heldout, results)


COMBINATIONS = ("cat", "ties", "dare_ties", "linear")
#: The (arithmetic, strings) coefficients searched for each combination.
COEFFICIENTS = [(a, b) for a in (0.5, 0.75, 1.0) for b in (0.5, 0.75, 1.0)]


def specialist(results: dict[str, Any], skill: str) -> tuple[str, Any]:
    """The skill's best self-trained layer (held-out accuracy), whatever its precision."""
    rows = [r for r in results.get("selftrain", []) if r["skill"] == skill]
    if not rows:
        raise SystemExit(f"no {skill} specialist yet: run --part selftrain first")
    best = max(rows, key=lambda r: r["after"])
    name = f"specialist-{skill}-{best['precision']}"
    return name, load(CACHE / "academy" / name)


#: The crossover's related specialists: a shared ancestor trained on both skills
#: at once, then each specialist a layer of its own over it, trained to stay
#: silent on the other skill (academy_experiments.py curve --under --silent-on).
RELATED = {
    "ancestor_steps": 2500,
    "specialist_steps": 1500,
    "silence": 1.0,
    #: Each learned merge is fitted this many steps; the dev set chooses.
    "learned_merge_steps": (150, 300),
}
#: Next to a cached layer: how long its training took ({"seconds": ...}).
TRAINING_TIME = "training.json"
RELATED_PLAN = TrainingPlan(rank=16, alpha=16, learning_rate=1e-3, batch=32, seed=SEED)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    """A recipe value that may be one setting or several searched on the dev set."""
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def trained(lab: Lab, label: str, examples: Any, plan: TrainingPlan, **kwargs: Any) -> Any:
    """``train`` under a progress bar."""
    with Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]:.3f}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("train", total=plan.steps, loss=float("nan"))

        def progress(step: int, total: int, loss: float) -> None:
            bar.update(task, completed=step, loss=loss)

        return train(lab, examples, plan, progress=progress, **kwargs)


def related_specialists(lab: Lab) -> tuple[Any, dict[str, Any], float | None]:
    """The shared ancestor and the two specialists over it (cached), and the
    seconds their training took (None when one's time is not on record)."""
    curriculum = Curriculum.load()
    sources = {
        name: SkillExamples([], curriculum.get(name), partial(render, lab.tokenizer))
        for name in ("arithmetic", "strings")
    }
    # Cached under names that hold the recipe, so a changed recipe trains anew.
    home = CACHE / "academy" / "related"
    ancestor_dir = home / f"ancestor-{RELATED['ancestor_steps']}"
    if not ancestor_dir.exists():
        plan = replace(RELATED_PLAN, steps=RELATED["ancestor_steps"])
        mixed = MixedExamples(list(sources.values()))
        result = trained(lab, "ancestor (both skills)", mixed, plan)
        result.weights.save(ancestor_dir)
        (ancestor_dir / TRAINING_TIME).write_text(json.dumps({"seconds": result.seconds}))
    ancestor = load(ancestor_dir)
    dirs = [ancestor_dir]
    specialists = {}
    for name, source in sources.items():
        layer_dir = home / (
            f"{name}-over-{RELATED['ancestor_steps']}-{RELATED['specialist_steps']}"
            f"-silence-{RELATED['silence']:g}"
        )
        if not layer_dir.exists():
            plan = replace(
                RELATED_PLAN,
                steps=RELATED["specialist_steps"],
                schedule="cosine",
                silence=RELATED["silence"],
            )
            other = next(s for n, s in sources.items() if n != name)
            result = trained(lab, name, source, plan, under=ancestor, silent_on=other)
            result.weights.save(layer_dir)
            (layer_dir / TRAINING_TIME).write_text(json.dumps({"seconds": result.seconds}))
        specialists[name] = load(layer_dir)
        dirs.append(layer_dir)
    times = [d / TRAINING_TIME for d in dirs]
    seconds = sum(json.loads(t.read_text())["seconds"] for t in times if t.exists())
    return ancestor, specialists, seconds if all(t.exists() for t in times) else None


def crossover(lab: Lab, results: dict[str, Any]) -> dict[str, Any]:
    """Merge two specialists; score the child and the parents on a mixed set.

    Two pairs of parents. *Related*: specialists that share an ancestor (a
    layer trained on both skills), each a layer of its own over it, trained
    to stay silent on the other skill; a child keeps the ancestor once and
    merges the two layers above it. *Unrelated*: the self-trained
    specialists of part 1, trained apart from the base model. As in
    evolutionary model merging, each combination's coefficients are chosen
    on a mixed *dev* set (train split), or learned per module on train-split
    examples (``learned_merge``); the chosen children and the parents are
    then scored on the held-out mixed set.
    """
    curriculum = Curriculum.load()

    def mixed(split: Any, seed: int, n: int) -> list[Any]:
        return draw(curriculum.get("arithmetic"), split, n // 2, seed) + draw(
            curriculum.get("strings"), split, n // 2, seed
        )

    dev, heldout = mixed("train", SEED + 9, 100), mixed("heldout", SEED + 7, HELDOUT)

    by_skill: dict[str, dict[str, float]] = {}
    graded: dict[str, list[bool]] = {}

    def score(weights: Any, exercises: list[Any], name: str = "") -> float:
        """Accuracy; on the held-out set, also each skill's and each exercise's
        (kept under ``name``)."""
        right = passes(lab, weights, exercises)
        if name:
            graded[name] = right
            half = len(exercises) // 2
            by_skill[name] = {
                "arithmetic": accuracy(right[:half]),
                "strings": accuracy(right[half:]),
            }
        return accuracy(right)

    def best_of(searched: list[tuple[float, str, Any]]) -> dict[str, float]:
        """Per combination, the dev-best child, scored on the held-out set."""
        children = {}
        for combination in dict.fromkeys(c for _, c, _ in searched):
            _, name, child = max((s for s in searched if s[1] == combination), key=lambda s: s[0])
            children[name] = score(child, heldout, name)
        return children

    # Related parents.
    ancestor, tops, train_seconds = related_specialists(lab)
    a, b = tops["arithmetic"], tops["strings"]
    parents = {n: concat([(ancestor, 1.0), (t, 1.0)]) for n, t in tops.items()}
    related_searched: list[tuple[float, str, Any]] = []
    for share in (0.5, 0.75, 1.0):
        child = concat([(ancestor, 1.0), (a, share), (b, share)])
        related_searched.append((score(child, dev), f"sum ({share:g})", child))
    for combination in ("ties_svd", "dare_ties_svd"):
        for density in (0.3, 0.7):
            top = merge(lab, [a, b], [1.0, 1.0], combination, density=density)
            child = concat([(ancestor, 1.0), (top, 1.0)])
            related_searched.append((score(child, dev), f"{combination} ({density:g})", child))
    sources = [
        SkillExamples([], curriculum.get(n), partial(render, lab.tokenizer))
        for n in ("arithmetic", "strings")
    ]
    for per_direction in (False, True):
        for steps in RELATED["learned_merge_steps"]:
            top = learned_merge(
                lab, [a, b], sources, steps=steps, under=ancestor, per_direction=per_direction
            )
            child = concat([(ancestor, 1.0), (top, 1.0)])
            name = f"learned per {'direction' if per_direction else 'module'} ({steps} steps)"
            related_searched.append((score(child, dev), name, child))
    related_rows = {name: score(w, heldout, name) for name, w in parents.items()}

    # Unrelated parents (part 1's specialists).
    unrelated = {name: specialist(results, name)[1] for name in ("arithmetic", "strings")}
    unrelated_rows = {name: score(w, heldout) for name, w in unrelated.items()}
    searched = []
    for combination in COMBINATIONS:
        for pair in COEFFICIENTS:
            child = merge(
                lab, [unrelated["arithmetic"], unrelated["strings"]], pair, combination, density=0.7
            )
            name = f"{combination} ({pair[0]:g}, {pair[1]:g})"
            searched.append((score(child, dev), combination, pair, name, child))
    unrelated_children = {}
    for combination in COMBINATIONS:
        _, _, _, name, child = max(
            (s for s in searched if s[1] == combination), key=lambda s: (s[0], -sum(s[2]))
        )
        unrelated_children[name] = score(child, heldout)
    children = best_of(related_searched)
    # The child the verdict counts: the dev set's choice, so that trying
    # several merges is no best-of-N on the held-out set; and how sure the
    # gain is (the A/B test's paired bootstrap, child against the best parent).
    chosen = max(related_searched, key=lambda s: s[0])[1]
    best_parent = max(related_rows, key=lambda n: related_rows[n])
    paired = evaluate(graded[chosen], graded[best_parent], method="fixed")
    return {
        "parents": related_rows,
        "ancestor": score(ancestor, heldout, "ancestor"),
        "by_skill": by_skill,
        "children": children,
        "chosen": chosen,
        "gain_interval": paired.interval,
        "best_parent": max(related_rows.values()),
        "train_seconds": train_seconds,
        "recipe": dict(RELATED),
        "unrelated": {
            "parents": unrelated_rows,
            "children": unrelated_children,
            "best_parent": max(unrelated_rows.values()),
        },
        "mixed": len(heldout),
        "search": [(name, round(d, 3)) for d, name, _ in related_searched]
        + [(name, round(d, 3)) for d, _, _, name, _ in searched],
    }


def evolution(
    lab: Lab, results: dict[str, Any], generations: int, population: int, seed: int = SEED
) -> dict[str, Any]:
    curriculum = Curriculum.load()
    skills = {name: curriculum.get(name) for name in ("arithmetic", "strings")}
    config = EvolutionConfig(
        skills=("arithmetic", "strings"),
        population=population,
        generations=generations,
        islands=2,
        seed=seed,
        dev_exercises=48,
        train_steps=60,
        batch=32,
        learning_rate=1e-3,
        rank=16,
    )
    history: list[dict[str, Any]] = []
    workdir = CACHE / "academy" / "evolution"
    shutil.rmtree(workdir, ignore_errors=True)  # a new run, not a resume of the last one

    def on_generation(report: GenerationReport) -> None:
        history.append(
            {
                "generation": report.generation,
                "seconds": report.seconds,
                "members": [
                    {
                        "member_id": m.member_id,
                        "parents": m.parents,
                        "species": m.species,
                        "scores": dict(m.scores),
                        "fitness": m.fitness,
                        "origin": m.origin,
                    }
                    for m in report.members
                ],
                "extinct": report.extinct,
            }
        )
        best = {s: max(m.scores[s] for m in report.members) for s in config.skills}
        species = sorted({m.species for m in report.members})
        console.print(
            f"generation {report.generation}: best {best}, species {species}, "
            f"{report.seconds:.0f} s"
        )

    ancestor, tops, _ = related_specialists(lab)
    seeds: list[tuple[str, Any]] = [("ancestor", [ancestor])]
    seeds += [(f"{name} specialist", [ancestor, top]) for name, top in tops.items()]
    # Part 1's self-trained specialists: a lineage of each skill apart from the
    # ancestor's, as strong as the Academy makes one in ten minutes.
    seeds += [(f"{name} self-trained", [specialist(results, name)[1]]) for name in tops]
    started = time.perf_counter()
    evo = Evolution(lab, skills, config, workdir, on_generation, seed_layers=seeds)
    members = evo.run()
    generalist = best_generalist(members)
    species: dict[int, dict[str, Any]] = {}
    for m in members:
        entry = species.setdefault(m.species, {"members": 0, "best": {}, "holder": {}})
        entry["members"] += 1
        for skill in config.skills:
            if m.scores[skill] > entry["best"].get(skill, -1.0):
                entry["best"][skill] = m.scores[skill]
                entry["holder"][skill] = {"member": m.member_id, "origin": m.origin}
    # Each species is judged on the skill it is best at.
    verdicts = {}
    for sid, entry in species.items():
        skill = max(config.skills, key=lambda s: entry["best"][s])
        verdicts[sid] = {
            "skill": skill,
            "best": entry["best"][skill],
            "holder": entry["holder"][skill],
            "generalist": generalist.scores[skill],
            "beats_generalist": entry["best"][skill] > generalist.scores[skill],
            "generalists_species": sid == generalist.species,
        }
    # Held-out scores of the final champions (dev scores drive selection only).
    heldout = {}
    for skill in config.skills:
        exercises = draw(skills[skill], "heldout", HELDOUT, SEED)
        champion = max(members, key=lambda m: m.scores[skill])
        heldout[skill] = {
            "champion": accuracy(passes(lab, champion.weights(), exercises)),
            "generalist": accuracy(passes(lab, generalist.weights(), exercises)),
        }
    return {
        "history": history,
        "species": {str(k): v for k, v in species.items()},
        "verdicts": {str(k): v for k, v in verdicts.items()},
        "generalist": {"member": generalist.member_id, "scores": generalist.scores},
        "heldout": heldout,
        "seconds": time.perf_counter() - started,
        "config": config.to_dict(),
    }


def descent(history: list[dict[str, Any]], member_id: str) -> tuple[list[str], int]:
    """The first-generation seeds a member descends from, and over how many
    generations its line changed (a kept elite is the same member, not a
    new generation)."""
    rows = {m["member_id"]: m for g in history for m in g["members"]}
    seeds: set[str] = set()
    depth = 0
    frontier = [(member_id, 0)]
    while frontier:
        current, steps = frontier.pop()
        row = rows.get(current)
        if row is None or not row["parents"]:
            origin = row["origin"] if row else current
            seeds.add(origin.removeprefix("seed (").removesuffix(")"))
            depth = max(depth, steps)
            continue
        frontier += [(parent, steps + 1) for parent in row["parents"]]
    return sorted(seeds), depth


def plot(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [k for k in ("selftrain", "crossover", "evolution") if k in results]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for axis, panel in zip(axes[0], panels, strict=True):
        if panel == "selftrain":
            rows = results["selftrain"]
            xs = list(range(len(rows)))
            axis.bar([x - 0.2 for x in xs], [100 * r["before"] for r in rows], 0.4, label="before")
            axis.bar([x + 0.2 for x in xs], [100 * r["after"] for r in rows], 0.4, label="after")
            axis.set_xticks(xs, [f"{r['skill']}\n{r['precision']}" for r in rows])
            axis.set_title("self-training: held-out exact match (%)")
            axis.axhline(90, color="grey", linestyle="--", linewidth=0.8)
            axis.legend()
        elif panel == "crossover":
            c = results["crossover"]
            u = c["unrelated"]
            names = [
                "ancestor",
                *c["parents"],
                *(f"child: {k}" for k in c["children"]),
                "unrelated: best child",
            ]
            values = [
                c["ancestor"],
                *c["parents"].values(),
                *c["children"].values(),
                max(u["children"].values()),
            ]
            colours = (
                ["tab:blue"]
                + ["tab:grey"] * len(c["parents"])
                + ["tab:green"] * len(c["children"])
                + ["tab:red"]
            )
            axis.bar(range(len(names)), [100 * v for v in values], color=colours)
            axis.set_xticks(range(len(names)), names, rotation=30, ha="right")
            axis.set_title("crossover: mixed held-out set (%)")
        else:
            history = results["evolution"]["history"]
            species = sorted({m["species"] for g in history for m in g["members"]})
            skills = list(results["evolution"]["config"]["skills"])
            for sid in species:
                gens: list[int] = []
                ys: list[float] = []
                final: dict[str, float] = {}
                for g in history:
                    group = [m for m in g["members"] if m["species"] == sid]
                    if group:
                        # The species' best at the skill it is best at (a specialist's
                        # mean over skills would hide what it is for).
                        final = {s: max(m["scores"][s] for m in group) for s in skills}
                        gens.append(g["generation"])
                        ys.append(100 * max(final.values()))
                niche = max(skills, key=lambda s: final.get(s, 0.0))
                axis.plot(gens, ys, marker="o", label=f"species {sid} ({niche})")
            worst = [100 * max(min(m["scores"].values()) for m in g["members"]) for g in history]
            axis.plot(
                [g["generation"] for g in history],
                worst,
                "k--",
                label="best generalist (worst skill)",
            )
            axis.set_title("evolution: each species' best at its skill (%)")
            axis.set_xlabel("generation")
            axis.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)


def section(results: dict[str, Any], command: str) -> str:
    lines = [
        "## Academy (self-training, crossover, speciation)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.machine()}, "
        f"{platform.python_version()}; built-in model (small preset), seed {SEED}. "
        f"Rerun: `{command}`.",
        "",
    ]
    if "selftrain" in results:
        lines += [
            "Self-training (LoRA rank 16 on the gold answers of the train split, rendered as a "
            "persona sees the exercise, arithmetic's worked in columns; held-out exact match "
            f"of the result on {HELDOUT} exercises; the crossover's unrelated parents are "
            "the better layer of each skill):",
            "",
            "| skill | precision | before | after | after, by kind | training wall s | CPU s "
            "| steps |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["selftrain"]:
            kinds = (
                ", ".join(
                    f"{kind} {100 * value:.1f}%"
                    for kind, value in r.get("after_by_kind", {}).items()
                )
                or "(one kind)"
            )
            lines.append(
                f"| {r['skill']} | {r['precision']} | {100 * r['before']:.1f}% | "
                f"{100 * r['after']:.1f}% | {kinds} | {r['seconds']:.0f} | "
                f"{r['cpu_seconds']:.0f} | {r['steps']} |"
            )
        lines.append("")
    if "crossover" in results:
        c = results["crossover"]
        r = c["recipe"]
        lines += [
            f"Crossover ({c['mixed']} held-out exercises, half of each skill). *Related* "
            f"parents: an ancestor layer trained on both skills at once ({r['ancestor_steps']} "
            f"steps), then each specialist a layer of its own over it ({r['specialist_steps']} "
            f"steps), trained to stay silent on the other skill (weight {r['silence']:g})."
            + (
                f" {c['train_seconds'] / 60:.0f} minutes of training in all."
                if c.get("train_seconds")
                else ""
            )
            + " A child keeps the "
            "ancestor once and merges the two layers above it: their sum at 0.5, 0.75 or 1 "
            "each, or TIES / DARE-TIES on the full updates at density 0.3 or 0.7 (each chosen "
            "on a mixed dev set of 100 train-split exercises), or coefficients learned on "
            "train-split gold, one per module and parent or one per rank-one direction "
            f"({' or '.join(map(str, _as_tuple(r['learned_merge_steps'])))} steps, "
            "`learned_merge`); the verdict counts the child "
            "with the best dev score:",
            "",
            "| genome | mixed accuracy | arithmetic | strings | vs best parent |",
            "|---|---|---|---|---|",
        ]
        skills = c.get("by_skill", {})

        def row(label: str, key: str, value: float, delta: str = "") -> str:
            split = skills.get(key, {})
            each = " | ".join(f"{100 * split[s]:.0f}%" if s in split else "" for s in SKILLS)
            return f"| {label} | {100 * value:.1f}% | {each} | {delta} |"

        lines.append(row("their ancestor", "ancestor", c["ancestor"]))
        for name, value in c["parents"].items():
            lines.append(row(f"parent: {name} specialist", name, value))
        for name, value in c["children"].items():
            delta = 100 * (value - c["best_parent"])
            lines.append(row(f"child: {name}", name, value, f"{delta:+.1f} points"))
        u = c["unrelated"]
        lines += [
            "",
            "*Unrelated* parents, for contrast: part 1's specialists, each trained apart from "
            "the base model, merged whole with peft's add_weighted_adapter (coefficients 0.5, "
            "0.75 or 1.0 each, chosen on the dev set):",
            "",
            "| genome | mixed accuracy | vs best parent |",
            "|---|---|---|",
        ]
        for name, value in u["parents"].items():
            lines.append(f"| parent: {name} specialist | {100 * value:.1f}% | |")
        for name, value in u["children"].items():
            delta = 100 * (value - u["best_parent"])
            lines.append(f"| child: {name} | {100 * value:.1f}% | {delta:+.1f} points |")
        if "chosen" in c:
            best_name, best = c["chosen"], c["children"][c["chosen"]]
        else:  # a run recorded before the dev set chose
            best_name, best = max(c["children"].items(), key=lambda kv: kv[1])
        gain = round(100 * (best - c["best_parent"]), 6)  # accuracies are counts / 200
        lines += [
            "",
            f"The child the dev set chose ({best_name}): {100 * best:.1f}% against the best "
            f"parent's {100 * c['best_parent']:.1f}%, {gain:+.1f} points (target: +20, "
            f"{'met' if gain >= 20 else 'missed'})"
            + (
                f"; paired bootstrap 95% interval of the gain: {100 * c['gain_interval'][0]:+.1f} "
                f"to {100 * c['gain_interval'][1]:+.1f} points."
                if "gain_interval" in c
                else "."
            ),
            "",
        ]
    if "evolution" in results:
        e = results["evolution"]
        lines += [
            f"Speciation (population {e['config']['population']}, "
            f"{e['config']['generations']} generations, "
            + (f"seed {e['config']['seed']}, " if e["config"].get("seed", SEED) != SEED else "")
            + "2 islands, arithmetic + strings; the "
            "first generation is the bare base model, the crossover's ancestor, its two "
            "related specialists and part 1's two self-trained specialists, in turn; "
            f"{e['seconds'] / 60:.0f} minutes). Species at the end, each judged on the skill "
            "it is best at against the best generalist (the member with the best worst skill, "
            f"{e['generalist']['member']}):",
            "",
            "| species | members | its skill | its best (dev) | best generalist (dev) | beats it "
            "| its best member, descended from |",
            "|---|---|---|---|---|---|---|",
        ]
        # Where each species' best member comes from (runs before this was
        # recorded have no holder).
        lines_of = {
            sid: descent(e["history"], v["holder"]["member"])
            for sid, v in e["verdicts"].items()
            if "holder" in v
        }
        for sid, v in e["verdicts"].items():
            own = " (the generalist's)" if v.get("generalists_species") else ""
            line = ""
            if sid in lines_of:
                roots, depth = lines_of[sid]
                line = (
                    f"{v['holder']['member']}: the seed itself ({roots[0]})"
                    if depth == 0
                    else f"{v['holder']['member']}: {' x '.join(roots)}, {depth} "
                    f"variation{'s' if depth > 1 else ''} on"
                )
            lines.append(
                f"| {sid}{own} | {e['species'][sid]['members']} | {v['skill']} | "
                f"{100 * v['best']:.0f}% | {100 * v['generalist']:.0f}% | "
                f"{'yes' if v['beats_generalist'] else 'no'} | {line} |"
            )
        winners = [v for v in e["verdicts"].values() if v["beats_generalist"]]
        niches = sorted({v["skill"] for v in winners})
        # The generalist's own species beating it is its own better member, not
        # a specialist beside it; specialists of one skill are one niche.
        others = [v for v in winners if not v.get("generalists_species")]
        other_niches = sorted({v["skill"] for v in others})
        met = len(others) >= 2 and len(other_niches) >= 2
        lines.append("")
        lines.append(
            f"{len(e['verdicts'])} species at the end; {len(winners)} of them beat the best "
            f"generalist on their own skill ({', '.join(niches) or 'none'}); not counting the "
            f"generalist's own species, {len(others)} ("
            f"{', '.join(other_niches) or 'none'}). Target (at least two species of "
            f"specialists, each better than the generalist at its skill, in two skills or "
            f"more: species of one skill are one niche): "
            f"{'met' if met else 'missed'}."
        )
        led_by_seed = [
            sid
            for sid, v in e["verdicts"].items()
            if v in others and sid in lines_of and lines_of[sid][1] == 0
        ]
        if others and lines_of:
            lines.append("")
            lines.append(
                "Seeds are named as in the first generation: the *specialists* are the "
                "crossover's related ones, the *self-trained* ones part 1's. Of the "
                f"{len(others)} species beside the generalist's that beat it, "
                f"{len(led_by_seed)} {'is' if len(led_by_seed) == 1 else 'are'} led by a "
                "first-generation seed (elitism keeps the best member of each skill) and "
                f"{len(others) - len(led_by_seed)} by a member made in the run."
            )
        generalist = e["generalist"]["scores"]
        if min(generalist.values(), default=0.0) == 0.0:
            lines.append(
                "No member scores on every skill, so the best generalist is itself a "
                f"specialist ({e['generalist']['member']}: "
                + ", ".join(f"{s} {100 * v:.0f}%" for s, v in generalist.items())
                + ") and no species of its skill can beat it: the species that do are all of "
                "the other skill. That is not yet specialists emerging beside a generalist."
            )
        lines.append("")
        lines.append(
            "Held-out accuracy of the final champions: "
            + "; ".join(
                f"{skill} {100 * h['champion']:.1f}% (generalist {100 * h['generalist']:.1f}%)"
                for skill, h in e["heldout"].items()
            )
            + "."
        )
        lines.append("")
    lines.append("![academy](benchmarks-academy.png)")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", default="selftrain,crossover,evolution")
    parser.add_argument("--skills", default="arithmetic,strings,extraction")
    parser.add_argument("--budget", type=float, default=600.0, help="Seconds per skill.")
    parser.add_argument("--steps", type=int, default=100_000, help="At most (the budget stops it).")
    parser.add_argument(
        "--precision",
        default="float32,bfloat16",
        help="Comma-separated: each skill is trained at each (the better layer seeds the rest).",
    )
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--generations", type=int, default=10)
    parser.add_argument(
        "--evolution-seed", type=int, default=SEED, help="The evolution run's seed (and dev draw)."
    )
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    unknown = set(args.precision.split(",")) - {"float32", "bfloat16"}
    if unknown:
        parser.error(f"--precision takes float32 and/or bfloat16, not {', '.join(sorted(unknown))}")
    store = CACHE / "academy" / "results.json"
    results: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    if args.part == "report":  # only rewrite the section and plot from the stored results
        args.part = ""
    lab = Lab(ensure_small())
    for row in results.get("selftrain", []):
        if "after_by_kind" not in row:
            row["after_by_kind"] = by_kind(lab, row)
    if "selftrain" in args.part:
        rows = {(r["skill"], r["precision"]): r for r in results.get("selftrain", [])}
        for skill in args.skills.split(","):
            for precision in args.precision.split(","):
                row = self_train(lab, skill, args.budget, args.steps, precision)
                rows[skill, precision] = row
                console.print(row)
        results["selftrain"] = sorted(rows.values(), key=lambda r: (r["skill"], r["precision"]))
    if "crossover" in args.part:
        results["crossover"] = crossover(lab, results)
        console.print(results["crossover"])
    if "evolution" in args.part:
        results["evolution"] = evolution(
            lab, results, args.generations, args.population, args.evolution_seed
        )
        console.print(results["evolution"]["verdicts"], results["evolution"]["heldout"])
    store.parent.mkdir(parents=True, exist_ok=True)
    store.write_text(json.dumps(results, indent=2))
    if args.write:
        from bench_common import write_section

        plot(results, args.write.parent / "benchmarks-academy.png")
        write_section(args.write, "academy", section(results, "make bench"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
