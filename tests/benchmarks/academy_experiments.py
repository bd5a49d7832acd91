"""One-off academy experiments behind the numbers docs/benchmarks.md quotes
outside the headline table (learning curves, what merges do to specialists).

Not part of ``make bench``: each answers one question, on the built-in model
(small preset, built by bench_academy.py into .bench-cache), seed 0 unless
given. Run with ``--threads 1`` to run two side by side on two cores; the
accuracies do not depend on it, the seconds do.

  curve        train a skill (or several at once: ``--skill a,b``) and print
               held-out accuracy every N steps (one JSON line each):
               learning rate, batch, precision, schedule, weight decay,
               LoRA+ ratio, LoRA targets, a starting layer (``--init``), a
               frozen layer under the new one (``--under``), kinds drawn by
               weakness (``--by-weakness``) or a penalty for acting on
               another skill (``--silent-on``) varied one at a time, or
               arithmetic's answers written another way (``--form``)
  norms        each module's update (|B A| * alpha / r) in two layers against
               the base weight it changes
  interpolate  two layers merged exactly (cat) at (1-l, l), per skill
  coefficients one merge coefficient per module and parent, learned on both
               skills' train-split gold (LoRA Soups' "CAT"), per skill;
               ``--ancestor P``: A and B are layers trained over P
  merges       two specialists and their merges (cat, linear, TIES), per skill;
               ``--ancestor P``: task-vector merges of specialists fine-tuned
               from P (``--stacked``: A and B are layers trained over P)
  breakdown    a layer's held-out accuracy on a skill by kind of problem
               (arithmetic: + or -; strings: reverse or sort)
  mutate       evolution's training mutation over a layer (a fresh layer,
               a few steps of its skill, silent on the other): its dev
               accuracy before and after, from the gradient-aligned start
               and from peft's random one, and the first steps' loss

Usage: python tests/benchmarks/academy_experiments.py curve --skill arithmetic
           --steps 4000 --every 500 [--precision bfloat16] [--save DIR] ...
       python tests/benchmarks/academy_experiments.py norms A B
       python tests/benchmarks/academy_experiments.py interpolate A B --at 0.25,0.5,0.75
       python tests/benchmarks/academy_experiments.py merges A B [--ancestor P --stacked]
       python tests/benchmarks/academy_experiments.py coefficients A B --steps 150
       python tests/benchmarks/academy_experiments.py breakdown A --skill arithmetic
       python tests/benchmarks/academy_experiments.py mutate A --skill arithmetic --lr 1e-3,2e-3
(A and B are layer directories, e.g. .bench-cache/academy/specialist-strings-bfloat16.)
"""

from __future__ import annotations

import argparse
import json
import random
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from continuum_academy.curriculum import Curriculum
from continuum_academy.evolution import Evolution, EvolutionConfig, Genome
from continuum_academy.exams import accuracy, accuracy_by_kind, passes, verdicts
from continuum_academy.lab.data import MixedExamples, SkillExamples
from continuum_academy.lab.merge import learned_merge, merge
from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import (
    TrainingPlan,
    _align_to_gradient,
    _loss,
    _silence,
    lr_factor,
    train,
)
from continuum_academy.lab.weights import LoraWeights, concat, load
from continuum_academy.render import max_answer_tokens, render
from continuum_academy.skills import draw

CACHE = Path(__file__).parents[2] / ".bench-cache"
SKILLS = ("arithmetic", "strings")


def _greedy_accuracy(lab: Lab, model: Any, exercises: list[Any]) -> tuple[float, dict[str, float]]:
    """Accuracy of the model being trained, overall and per kind (no lab lock taken)."""
    prompts = [render(lab.tokenizer, e) for e in exercises]
    answers = lab.greedy(model, prompts, max_answer_tokens(exercises), batch=100)
    right = verdicts(exercises, answers)
    return accuracy(right), accuracy_by_kind(exercises, right)


@dataclass
class ByWeakness:
    """Fresh train-split gold, each problem's kind drawn in proportion to how
    badly the layer does it (1 - dev accuracy + 0.1; even until measured)."""

    skill: Any
    render: Any
    weights: dict[str, float]

    def batch(self, rng: random.Random, size: int) -> list[tuple[str, str]]:
        kinds = sorted(self.weights)
        out = []
        for _ in range(size):
            want = rng.choices(kinds, [self.weights[k] for k in kinds])[0]
            while True:
                exercise = self.skill.generate(rng)
                if exercise.split == "train" and exercise.kind == want:
                    break
            out.append((self.render(exercise), exercise.gold or ""))
        return out


@dataclass
class ArithmeticForm:
    """The arithmetic skill with its answers written another way, to compare
    forms (ADR 0011). ``bare``: the number only, as the skill had it before
    worked solutions; ``results``: each column's result then the number
    (``15,8:85``), a borrow not written; ``sums``: each column's sum written
    out (``7+8=15,4+3+1=8:85``). Both worked forms keep the bare form's
    rubric and show one worked example, as they were first measured."""

    skill: Any
    form: str

    def __getattr__(self, name: str) -> Any:
        return getattr(self.skill, name)

    def generate(self, rng: random.Random) -> Any:
        from dataclasses import replace

        exercise = self.skill.generate(rng)
        rubric = "Answer with the number only."
        if self.form == "bare":
            return replace(
                exercise, solution=None, grader={"kind": "exact"}, rubric=rubric,
                examples=(("12+30=", "42"),),
            )  # fmt: skip
        solution = self.written(exercise.key)
        return replace(
            exercise, solution=solution, rubric=rubric,
            examples=(("12+30=", self.written("12+30=")),),
        )  # fmt: skip

    def written(self, key: str) -> str:
        op = "+" if "+" in key else "-"
        a, b = (int(x) for x in key[:-1].split(op))
        a1, a0, b1, b0 = a // 10, a % 10, b // 10, b % 10
        if op == "+":
            ones = a0 + b0
            tens = a1 + b1 + ones // 10
            if self.form == "sums":
                return f"{a0}+{b0}={ones},{a1}+{b1}+{ones // 10}={tens}:{a + b}"
            return f"{ones},{tens}:{a + b}"
        borrow = int(a0 < b0)
        ones, tens = a0 + 10 * borrow - b0, a1 - b1 - borrow
        if self.form == "sums":
            return f"{a0 + 10 * borrow}-{b0}={ones},{a1}-{b1}-{borrow}={tens}:{a - b}"
        return f"{ones},{tens}:{a - b}"


def curve(lab: Lab, args: argparse.Namespace) -> None:
    import torch

    names = args.skill.split(",")
    skills = [Curriculum.load().get(name) for name in names]
    if args.form:
        skills = [ArithmeticForm(s, args.form) if s.name == "arithmetic" else s for s in skills]
    skill = skills[0]
    heldout = [e for s in skills for e in draw(s, "heldout", 200 // len(skills), 0)]
    examples: Any = SkillExamples([], skill, partial(render, lab.tokenizer))
    if len(skills) > 1:
        examples = MixedExamples(
            [SkillExamples([], s, partial(render, lab.tokenizer)) for s in skills]
        )
    dev = draw(skill, "train", 200, 99)
    kinds = {e.kind for e in dev}
    weighted = ByWeakness(skill, partial(render, lab.tokenizer), dict.fromkeys(kinds, 1.0))
    plan = TrainingPlan(
        rank=args.rank,
        alpha=args.alpha,
        learning_rate=args.lr,
        steps=args.steps,
        batch=args.batch,
        seed=args.seed,
    )
    torch.manual_seed(args.seed)
    init = load(Path(args.init)) if args.init else None
    under = load(Path(args.under)) if args.under else None
    targets = args.targets.split(",") if args.targets else None
    model = lab.wrap(
        init, trainable=True, rank=args.rank, alpha=args.alpha, targets=targets, under=under
    )
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for n, p in named if "lora_B" not in n], "lr": args.lr},
        {"params": [p for n, p in named if "lora_B" in n], "lr": args.lr * args.b_ratio},
    ]
    optimizer = torch.optim.AdamW(groups, weight_decay=args.weight_decay)

    def lr_at(step: int) -> float:
        return lr_factor(args.schedule, args.steps, step)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    curriculum = Curriculum.load()
    elsewhere = [
        SkillExamples([], curriculum.get(name), partial(render, lab.tokenizer))
        for name in filter(None, args.silent_on.split(","))
    ]
    started = time.perf_counter()
    if init is None:
        _align_to_gradient(model, lab, examples, plan)
    seconds = time.perf_counter() - started
    model.train()
    params = [p for _, p in named]
    losses: list[float] = []
    for step in range(args.steps):
        tick = time.perf_counter()
        rng = random.Random(args.seed * 1_000_003 + step)
        with torch.autocast("cpu", torch.bfloat16, enabled=args.precision == "bfloat16"):
            source = weighted if args.by_weakness else examples
            loss = _loss(model, lab, source.batch(rng, args.batch))
            for other in elsewhere:
                pairs = other.batch(rng, args.silent_batch)
                loss = loss + args.silence * _silence(model, lab, pairs) / len(elsewhere)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        seconds += time.perf_counter() - tick
        losses.append(float(loss.item()))
        if args.by_weakness and (step + 1) % 250 == 0:
            _, dev_kinds = _greedy_accuracy(lab, model, dev)
            weighted.weights = {k: 1 - dev_kinds.get(k, 0.0) + 0.1 for k in kinds}
        if (step + 1) % args.every == 0 or step + 1 == args.steps:
            row = {
                "step": step + 1,
                "examples": (step + 1) * args.batch,
                "train_seconds": round(seconds, 1),
                "loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
            }
            row["heldout"], row["by_kind"] = _greedy_accuracy(lab, model, heldout)
            print(json.dumps(row), flush=True)
            if args.save:
                LoraWeights.from_peft(model).save(Path(args.save) / f"step-{step + 1}")
    lab.unwrap(model)


def _per_skill(lab: Lab, weights: LoraWeights | None, n: int = 100) -> dict[str, float]:
    curriculum = Curriculum.load()
    return {
        s: accuracy(passes(lab, weights, draw(curriculum.get(s), "heldout", n, 3))) for s in SKILLS
    }


def norms(lab: Lab, a: LoraWeights, b: LoraWeights) -> None:
    base = dict(lab.model.named_parameters())
    print(f"{'module':40} {'|W|':>7} {'|dW a|':>7} {'|dW b|':>7}")
    for module in a.modules():
        name = module.removeprefix("base_model.model.")
        weight = base.get(f"{name}.weight")
        if weight is None and name == "lm_head":
            weight = lab.model.get_output_embeddings().weight
        row = [float(weight.detach().norm()) if weight is not None else float("nan")]
        for layer in (a, b):
            down = layer.tensors[f"{module}.lora_A.weight"]
            up = layer.tensors[f"{module}.lora_B.weight"]
            row.append(float((up @ down).norm()) * layer.alpha / layer.rank)
        print(f"{name:40} " + " ".join(f"{x:7.2f}" for x in row))


def interpolate(lab: Lab, a: LoraWeights, b: LoraWeights, at: list[float]) -> None:
    print("A", _per_skill(lab, a))
    print("B", _per_skill(lab, b))
    for share in at:
        child = merge(lab, [a, b], [1 - share, share], "cat")
        print(f"cat({1 - share:.2f}, {share:.2f})", _per_skill(lab, child))


def merges(lab: Lab, a: LoraWeights, b: LoraWeights) -> None:
    """Each parent and a few merges of the two, per skill (A: arithmetic, B: strings)."""
    print("A", _per_skill(lab, a), flush=True)
    print("B", _per_skill(lab, b), flush=True)
    for combination, pair in (
        ("cat", (1.0, 1.0)),
        ("cat", (0.75, 0.75)),
        ("linear", (1.0, 1.0)),
        ("ties", (1.0, 1.0)),
    ):
        child = merge(lab, [a, b], pair, combination, density=0.7)
        print(combination, pair, _per_skill(lab, child), flush=True)


def task_merges(lab: Lab, a: LoraWeights, b: LoraWeights, ancestor: LoraWeights) -> None:
    """Specialists fine-tuned from a shared ``ancestor`` merged as task vectors
    (A - P and B - P): P + l(A - P) + l(B - P), and the two vectors TIES-merged
    (on their full updates, re-factored by SVD: they are not factors of one basis)."""
    print("P", _per_skill(lab, ancestor), flush=True)
    print("A", _per_skill(lab, a), flush=True)
    print("B", _per_skill(lab, b), flush=True)
    for share in (0.5, 0.75, 1.0):
        child = concat([(ancestor, 1 - 2 * share), (a, share), (b, share)])
        print(f"task arithmetic l={share:g}", _per_skill(lab, child), flush=True)
    vectors = [concat([(a, 1.0), (ancestor, -1.0)]), concat([(b, 1.0), (ancestor, -1.0)])]
    for combination in ("ties_svd", "dare_ties_svd"):
        for density in (0.3, 0.7):
            merged = merge(lab, vectors, [1.0, 1.0], combination, density=density)
            child = concat([(ancestor, 1.0), (merged, 1.0)])
            print(f"{combination} d={density:g}", _per_skill(lab, child), flush=True)


def coefficients(
    lab: Lab,
    a: LoraWeights,
    b: LoraWeights,
    steps: int,
    lr: float,
    ancestor: LoraWeights | None = None,
    per_direction: bool = False,
) -> None:
    """One coefficient per module and parent (``learned_merge``), fitted on both
    skills' train-split gold (over their frozen ``ancestor`` when A and B are
    layers trained on it)."""
    if ancestor is not None:
        print("P", _per_skill(lab, ancestor), flush=True)
        a_full, b_full = concat([(ancestor, 1.0), (a, 1.0)]), concat([(ancestor, 1.0), (b, 1.0)])
        print("A", _per_skill(lab, a_full), flush=True)
        print("B", _per_skill(lab, b_full), flush=True)
    curriculum = Curriculum.load()
    sources = [SkillExamples([], curriculum.get(s), partial(render, lab.tokenizer)) for s in SKILLS]
    child = learned_merge(
        lab, [a, b], sources, steps=steps, learning_rate=lr, under=ancestor,
        per_direction=per_direction,
    )  # fmt: skip
    if ancestor is not None:
        child = concat([(ancestor, 1.0), (child, 1.0)])
    print("learned", _per_skill(lab, child))


def breakdown(
    lab: Lab, layer: LoraWeights, skill_name: str, split: str = "heldout", count: int = 200,
    seed: int = 0,
) -> None:  # fmt: skip
    exercises = draw(Curriculum.load().get(skill_name), split, count, seed)
    results = passes(lab, layer, exercises)
    for kind, value in accuracy_by_kind(exercises, results).items():
        count = sum(e.kind == kind for e in exercises)
        print(f"{kind:12} {round(value * count):4d} / {count:<4d} {value:6.1%}")


def _record_loss(losses: list[float], _step: int, _total: int, loss: float) -> None:
    losses.append(round(loss, 3))


def mutate(lab: Lab, layer: LoraWeights, args: argparse.Namespace) -> None:
    """What ``Evolution._train`` does to a member whose top layer is inherited,
    from either start, scored as the run scores members (its dev draw, seed 0)."""
    curriculum = Curriculum.load()
    evolution = Evolution(
        lab, {s: curriculum.get(s) for s in SKILLS}, EvolutionConfig(skills=SKILLS), Path("unused")
    )

    def score(layers: list[LoraWeights]) -> dict[str, float]:
        member = Genome("probe", layers=[(x, 1.0) for x in layers])
        evolution.evaluate(member)
        return member.scores

    others = [source for s, source in evolution.training.items() if s != args.skill]
    print(json.dumps({"layer": str(args.a), "dev": score([layer])}), flush=True)
    for lr in (float(x) for x in args.lr.split(",")):
        for aligned in (8, 0):
            plan = TrainingPlan(
                rank=args.rank, alpha=2.0 * args.rank, learning_rate=lr, steps=args.steps,
                batch=32, seed=args.seed, silence=args.silence, gradient_init_batches=aligned,
            )  # fmt: skip
            losses: list[float] = []
            top = train(
                lab, evolution.training[args.skill], plan, under=layer,
                silent_on=MixedExamples(others) if args.silence else None,
                progress=partial(_record_loss, losses),
            ).weights  # fmt: skip
            print(
                json.dumps(
                    {
                        "lr": lr,
                        "start": "gradient-aligned" if aligned else "random",
                        "dev": score([layer, top]),
                        "loss": {"first": losses[:3], "last": losses[-3:]},
                    }
                ),
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    sub = parser.add_subparsers(dest="what", required=True)
    c = sub.add_parser("curve")
    c.add_argument(
        "--skill", default="arithmetic",
        help="a skill, or several comma-separated to train on all at once",
    )  # fmt: skip
    c.add_argument("--steps", type=int, default=4000)
    c.add_argument("--every", type=int, default=500)
    c.add_argument("--batch", type=int, default=32)
    c.add_argument("--lr", type=float, default=1e-3)
    c.add_argument("--rank", type=int, default=16)
    c.add_argument("--alpha", type=float, default=16.0)
    c.add_argument("--precision", default="float32", choices=("float32", "bfloat16"))
    c.add_argument("--schedule", default="constant", choices=("constant", "cosine"))
    c.add_argument("--weight-decay", type=float, default=0.01)
    c.add_argument("--b-ratio", type=float, default=1.0, help="B's learning rate / A's (LoRA+)")
    c.add_argument("--targets", default="", help="comma-separated modules (default: all)")
    c.add_argument("--init", default="", help="a layer directory to start from")
    c.add_argument(
        "--under", default="", help="a layer kept frozen under the one trained (saved alone)"
    )
    c.add_argument(
        "--silent-on", default="", help="skills on which the layer is trained to stay silent"
    )
    c.add_argument("--silence", type=float, default=1.0, help="weight of that penalty")
    c.add_argument("--silent-batch", type=int, default=4)
    c.add_argument(
        "--by-weakness", action="store_true", help="draw the kinds the layer fails more often"
    )
    c.add_argument("--save", default="", help="save the layer at every evaluation here")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument(
        "--form", default="", choices=("", "bare", "results", "sums"),
        help="arithmetic's answers written another way (ArithmeticForm)",
    )  # fmt: skip
    b = sub.add_parser("breakdown")
    b.add_argument("a", type=Path)
    b.add_argument("--skill", default="arithmetic", choices=SKILLS)
    b.add_argument("--under", type=Path, help="A is a layer over this one: score the stack")
    b.add_argument("--split", default="heldout", choices=("heldout", "train"))
    b.add_argument("--count", type=int, default=200)
    b.add_argument("--seed", type=int, default=0)
    m = sub.add_parser("mutate")
    m.add_argument("a", type=Path)
    m.add_argument("--under", type=Path, help="A is a layer over this one: mutate the stack")
    m.add_argument("--skill", default="arithmetic", choices=SKILLS)
    m.add_argument("--lr", default="1e-3", help="comma-separated learning rates")
    m.add_argument("--steps", type=int, default=60)
    m.add_argument("--rank", type=int, default=16)
    m.add_argument("--silence", type=float, default=1.0)
    m.add_argument("--seed", type=int, default=1)
    for name in ("norms", "interpolate", "coefficients", "merges"):
        p = sub.add_parser(name)
        p.add_argument("a", type=Path)
        p.add_argument("b", type=Path)
        if name == "interpolate":
            p.add_argument("--at", default="0.25,0.5,0.75")
        if name == "merges":
            p.add_argument("--ancestor", type=Path, help="their shared parent: task-vector merges")
            p.add_argument("--stacked", action="store_true", help="A, B: layers over the ancestor")
        if name == "coefficients":
            p.add_argument("--ancestor", type=Path, help="A and B are layers over this one")
            p.add_argument(
                "--per-direction", action="store_true",
                help="one coefficient per rank-one direction, not per module",
            )  # fmt: skip
            p.add_argument("--steps", type=int, default=150)
            p.add_argument("--lr", type=float, default=0.02)
    args = parser.parse_args()
    model_dir = CACHE / "builtin-small"
    if not model_dir.exists():
        raise SystemExit("no built-in model yet: run python tests/benchmarks/bench_academy.py")
    lab = Lab(model_dir, threads=args.threads)
    if args.what == "curve":
        curve(lab, args)
        return
    if args.what == "breakdown":
        layer = load(args.a)
        if args.under:
            layer = concat([(load(args.under), 1.0), (layer, 1.0)])
        breakdown(lab, layer, args.skill, args.split, args.count, args.seed)
        return
    if args.what == "mutate":
        layer = load(args.a)
        if args.under:
            layer = concat([(load(args.under), 1.0), (layer, 1.0)])
        mutate(lab, layer, args)
        return
    a, b = load(args.a), load(args.b)
    if args.what == "norms":
        norms(lab, a, b)
    elif args.what == "merges" and args.ancestor:
        ancestor = load(args.ancestor)
        if args.stacked:  # A and B were trained on top of the ancestor (curve --under)
            a, b = concat([(ancestor, 1.0), (a, 1.0)]), concat([(ancestor, 1.0), (b, 1.0)])
        task_merges(lab, a, b, ancestor)
    elif args.what == "merges":
        merges(lab, a, b)
    elif args.what == "interpolate":
        interpolate(lab, a, b, [float(x) for x in args.at.split(",")])
    else:
        ancestor = load(args.ancestor) if args.ancestor else None
        coefficients(lab, a, b, args.steps, args.lr, ancestor, args.per_direction)


if __name__ == "__main__":
    main()
