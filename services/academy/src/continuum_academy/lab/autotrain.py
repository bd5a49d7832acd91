"""The flag-free recipe run on a model: measure, probe, plan (``recipe``).

One function for every caller, so ``academy train`` with no flags and the
benchmark that reports what it achieves (``tests/benchmarks/bench_learning.py``)
make exactly the same choices.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from continuum_academy import recipe
from continuum_academy.lab import probe
from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import Examples, Pair, TrainingPlan
from continuum_academy.lab.weights import LoraWeights
from continuum_academy.recipe import Recipe, Timing

PRECISIONS = ("float32", "bfloat16")


@dataclass(frozen=True)
class Choice:
    recipe: Recipe
    timing: Timing
    #: Dev loss after the probe steps, per learning rate.
    probes: dict[float, float]


#: Dev exercises a job is measured by: enough that one is 1.6 points.
DEV_EXERCISES = 64


def dev_size(train_exercises: int | None) -> int:
    """How many train-split exercises are set aside as dev exercises: 64, or a
    fifth of a small file's train split (it keeps four fifths to train on); a
    generator (``None``) has endless exercises."""
    if train_exercises is None:
        return DEV_EXERCISES
    return min(DEV_EXERCISES, train_exercises // 5)


def threads() -> int:
    import torch

    return max(1, int(torch.get_num_threads()))


def choose(
    lab: Lab,
    examples: Examples,
    dev: Sequence[Pair],
    *,
    cpu_seconds: float,
    cpu_spent: Callable[[], float],
    eval_seconds: float,
    seed: int,
    train_examples: int | None,
    init: LoraWeights | None = None,
    phase: Callable[[str, float | None], None] = lambda _what, _left: None,
    batch: int | None = None,
    long_run: int = recipe.LONG_RUN,
    few_steps: int = recipe.FEW_STEPS,
) -> Choice:
    """Measure the step time, refuse a budget too small, probe the learning
    rates on ``dev`` (gold pairs of train-split exercises never trained on) and
    plan the run that the rest of ``cpu_seconds`` pays for. ``cpu_spent`` says
    how much of the budget is gone (the caller's clock: model loading and the
    first dev check count too). ``batch``: the recipe's choice
    (``recipe.choose_batch``: the small batch where the budget pays for fewer
    than ``few_steps`` steps at ``recipe.BATCH``) unless given. A run planned
    longer than ``long_run`` steps takes the default rate unprobed
    (``recipe.rates_to_probe``)."""
    base = TrainingPlan(
        rank=init.rank if init is not None else recipe.RANK,
        alpha=init.alpha if init is not None else float(recipe.ALPHA),
        batch=recipe.BATCH if batch is None else batch,
        seed=seed,
        schedule="constant",
    )
    phase("measuring the step time", None)
    timing, precision, precision_reason = _timed(lab, examples, base, eval_seconds)
    # How long a run without probes would be decides the batch and which rates
    # are worth probing (a budget too small even for that is refused here).
    unprobed = _plan(timing, cpu_seconds, precision, cpu_spent(), base.batch)
    batch_reason = ""
    if batch is None:
        batch, batch_reason = recipe.choose_batch(unprobed.steps, few_steps)
        if batch != base.batch:  # timed again: the step time and precision at this batch
            phase(f"measuring the step time at batch {batch}", None)
            base = replace(base, batch=batch)
            timing, precision, precision_reason = _timed(lab, examples, base, eval_seconds)
            unprobed = _plan(timing, cpu_seconds, precision, cpu_spent(), batch)
    rates = recipe.rates_to_probe(unprobed.steps, long_run)
    losses: dict[float, float] = {}
    if len(rates) < 2:
        rate, rate_reason = recipe.long_run_rate(unprobed.steps, long_run)
    else:
        # A budget too small for the probes too is refused before they spend any of it.
        _plan(
            timing,
            cpu_seconds,
            precision,
            cpu_spent() + recipe.probe_cost(timing, precision, rates) * timing.threads,
            batch,
        )
        left = max(0.0, cpu_seconds - cpu_spent()) / timing.threads
        phase(f"probing {len(rates)} learning rates", left)
        probe_plan = replace(base, steps=recipe.PROBE_STEPS, precision=precision)
        losses = probe.probe_rates(lab, examples, probe_plan, rates, dev, init=init)
        rate, rate_reason = recipe.choose_rate(losses)
    chosen = recipe.plan(
        timing,
        cpu_seconds,
        train_examples=train_examples,
        learning_rate=rate,
        rate_reason=rate_reason,
        precision=precision,
        precision_reason=precision_reason,
        spent_cpu_seconds=cpu_spent(),
        batch=batch,
        batch_reason=batch_reason,
    )
    return Choice(chosen, timing, losses)


def _timed(
    lab: Lab, examples: Examples, base: TrainingPlan, eval_seconds: float
) -> tuple[Timing, str, str]:
    """The step time of ``base`` in each precision, and the precision it chooses."""
    seconds = probe.step_seconds(lab, examples, base, PRECISIONS, recipe.TIMING_STEPS)
    timing = Timing(seconds, eval_seconds, threads())
    return timing, *recipe.choose_precision(timing)


def _plan(timing: Timing, cpu_seconds: float, precision: str, spent: float, batch: int) -> Recipe:
    """The plan's length alone, for a run at the default rate after ``spent`` CPU-seconds."""
    return recipe.plan(
        timing,
        cpu_seconds,
        train_examples=None,
        learning_rate=recipe.LEARNING_RATE,
        rate_reason="",
        precision=precision,
        precision_reason="",
        spent_cpu_seconds=spent,
        batch=batch,
    )


def plan_of(chosen: Recipe, seed: int, init: LoraWeights | None = None) -> TrainingPlan:
    """The lab's training plan for a recipe (a genome's own rank where it has one)."""
    return automatic_plan(
        rank=init.rank if init is not None else chosen.rank,
        alpha=init.alpha if init is not None else float(chosen.alpha),
        learning_rate=chosen.learning_rate,
        steps=chosen.steps,
        batch=chosen.batch,
        schedule=chosen.schedule,
        precision=chosen.precision,
        eval_every=chosen.eval_every,
        patience=chosen.patience,
        target=chosen.target,
        seed=seed,
    )


def automatic_plan(
    *,
    rank: int,
    alpha: float,
    learning_rate: float,
    steps: int,
    batch: int,
    schedule: str,
    precision: str,
    eval_every: int,
    patience: int,
    target: float,
    seed: int,
) -> TrainingPlan:
    """The one mapping of a chosen recipe onto a lab plan, whether it comes
    straight from the choice (the benchmark) or from the recorded
    ``academy.training.planned`` event (a job, also when resumed): both must
    train the same way, checkpointing at each dev check."""
    return TrainingPlan(
        rank=rank,
        alpha=alpha,
        learning_rate=learning_rate,
        steps=steps,
        batch=batch,
        seed=seed,
        checkpoint_every=max(10, eval_every),
        schedule=schedule,
        precision=precision,
        eval_every=eval_every,
        patience=patience,
        target=target,
    )


def budget_stop(
    spent: Callable[[], float],
    cpu_seconds: float,
    eval_seconds: float,
    step_seconds: float,
    evals_after: int = 1,
) -> Callable[[], bool]:
    """A ``train(should_stop=...)`` signal: True once the budget has no room left
    for one more step and the dev checks still to come after it (``evals_after``
    of ``eval_seconds``; both in wall seconds, on every thread). The plan aims
    to end inside the budget, but its step time is measured over a few steps
    at the start, and a run under load goes slower (one measured run planned
    2,595 steps and used 10.4 of its 10 CPU-minutes): this makes the budget a
    bound, and the run keeps its best checked layer."""
    limit = cpu_seconds - (step_seconds + evals_after * eval_seconds) * threads()
    return lambda: spent() > limit


def cpu_clock() -> Callable[[], float]:
    """CPU-seconds this process has used since now (every thread: the budget's unit)."""
    start = time.process_time()
    return lambda: time.process_time() - start
