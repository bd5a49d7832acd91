"""PNG plots of an evolution run: fitness per species over generations, and
the family tree (who descends from whom, coloured by species)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def evolution_plots(run: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    history = sorted(run.get("history", []), key=lambda g: g["generation"])
    skills: list[str] = list(run["skills"])
    colours = plt.get_cmap("tab10")

    # Fitness per species: the best member's score on each skill, per generation.
    fig, axes = plt.subplots(1, len(skills), figsize=(5 * len(skills), 4), squeeze=False)
    species = sorted({m["species"] for g in history for m in g["members"]})
    for axis, skill in zip(axes[0], skills, strict=True):
        for s in species:
            xs, ys = [], []
            for g in history:
                scores = [m["scores"].get(skill, 0.0) for m in g["members"] if m["species"] == s]
                if scores:
                    xs.append(g["generation"])
                    ys.append(max(scores))
            axis.plot(xs, ys, marker="o", color=colours(s % 10), label=f"species {s}")
        axis.set_title(f"best {skill} score per species")
        axis.set_xlabel("generation")
        axis.set_ylim(-0.02, 1.02)
        axis.grid(alpha=0.3)
    axes[0][0].set_ylabel("dev accuracy")
    axes[0][-1].legend(fontsize="small", loc="lower right")
    fig.suptitle(f"evolution {run['run']} (seed {run['seed']})")
    fig.tight_layout()
    fitness = out / f"evolution-{run['run']}-species.png"
    fig.savefig(fitness, dpi=110)
    plt.close(fig)

    # Family tree: one row per generation, an edge from each parent to its child.
    fig, axis = plt.subplots(figsize=(10, 1 + 0.6 * max(1, len(history))))
    where: dict[str, tuple[float, float]] = {}
    for g in history:
        members = sorted(g["members"], key=lambda m: (m["species"], m["member_id"]))
        for index, m in enumerate(members):
            # A survivor keeps its place; a newcomer takes the next free one.
            x = where[m["member_id"]][0] if m["member_id"] in where else index
            where[m["member_id"]] = (x, g["generation"])
    for g in history:
        for m in g["members"]:
            x, y = where[m["member_id"]]
            for parent in m["parents"]:
                if parent in where:
                    px, py = where[parent]
                    if py < y:
                        axis.plot([px, x], [py, y], color="grey", alpha=0.4, linewidth=0.8)
            axis.scatter(
                [x], [g["generation"]], s=30 + 120 * m["fitness"], color=colours(m["species"] % 10)
            )
    axis.invert_yaxis()
    axis.set_ylabel("generation")
    axis.set_xticks([])
    axis.set_title("family tree (size: fitness; colour: species)")
    fig.tight_layout()
    tree = out / f"evolution-{run['run']}-family.png"
    fig.savefig(tree, dpi=110)
    plt.close(fig)
    return [fitness, tree]
