"""How to train a layer when the user gives no flags: the recipe's decisions.

``academy train --persona P --skill S`` must learn a skill nobody tuned for,
within a CPU budget, without memorising a small file of examples. This
module holds the decisions and nothing else (no model, no I/O), so each is
tested on its own; ``lab.probe`` measures what they need and ``jobs`` runs
them:

- **How long.** The step time is measured on the job's own batches (a few
  steps in each precision), and the steps are what the budget pays for
  after the probes and the dev checks. A budget that pays for fewer than
  ``MIN_STEPS`` is refused before anything trains.
- **How fast.** A few short probe runs, one per learning rate, from the same
  start; the one with the lowest loss on the dev exercises (train split,
  never trained on, never the held-out split) wins.
- **When to stop.** Dev accuracy is checked every ``eval_every`` steps; the
  run stops when it reaches ``TARGET`` or has not improved for ``PATIENCE``
  checks, and the layer kept is the best checked one. On a small file this
  is the memorisation guard: dev exercises are ones the layer never saw, so
  a layer that only recalls its examples stops improving there.
- **Whether the data supports it.** With a fixed file, the plan's passes
  over its train split are counted; far more than ``MAX_PASSES`` is
  memorisation territory, and the recipe says so.

Every choice comes with a reason a person can read (the job reports them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

#: Fewer steps than this learn nothing worth publishing (measured: no shipped
#: skill moves before ~150 steps of batch 32).
MIN_STEPS = 150
#: Learning rates the probes try (at the recipe's rank, all linear modules and the head).
PROBE_RATES = (1e-3, 3e-3)
PROBE_STEPS = 40
#: A larger probed rate is chosen only when its dev loss beats a smaller one's
#: by more than this (``choose_rate``).
RATE_MARGIN = 0.1
#: Where a run cannot probe (an evolution run's members, a manual job's
#: default): the rate the probes chose in 11 of the first 13 benchmark runs.
LEARNING_RATE = 1e-3
#: A run planned longer than this is not offered the probed rates above
#: ``LEARNING_RATE`` (``rates_to_probe``). A 40-step probe measures early
#: speed, and a larger rate's risk grows with the steps spent near the top of
#: the cosine. Measured on extraction seed 0, whose probes chose 3e-3: 55%
#: held-out after 657 steps, but 7% after 1,472 (a 20-minute budget; dev
#: accuracy under 15% throughout); at 1e-3 the same seed reached 37% in 698
#: steps, so at about 700 steps the larger rate still pays. On every other
#: run over this many steps (17 in docs/bench-rows) the probes chose 1e-3
#: anyway, so for them the probes only cost steps.
LONG_RUN = 1000
#: Steps timed in each precision (in alternating rounds, ``probe.step_seconds``) before the probes.
TIMING_STEPS = 6
#: A precision must be this much faster to be chosen over float32. Under the
#: recipe, bfloat16 learned as much per step as float32 (runs A-D and F in
#: docs/benchmarks.md; the older table where one precision reached 93% and the
#: other 53.5% fell both ways between skills: when a skill jumps varies from
#: run to run), so a budget-bound skill gains the steps: at 1.25, arithmetic
#: seed 2 measured 1.24x, trained in float32 and ran out at 80%.
FASTER = 1.1
#: Rank 64 with alpha 64 (scale 1): a new skill that maps characters needs an
#: update to the head of rank near the alphabet's size (ADR 0021: a cipher skill
#: reached 71.5% held-out at rank 16 and 100% at rank 64).
RANK = 64
ALPHA = 64
BATCH = 32
#: Where the budget pays for fewer than ``FEW_STEPS`` steps of ``BATCH``, the
#: run trains at ``SMALL_BATCH``: a skill whose steps are dear (long examples)
#: gains more from more updates than from more examples in each. Measured side
#: by side, 10 CPU-minutes: extraction at batch 32 planned about 700-775 steps
#: and reached 55% (3e-3; 37% at 1e-3), 79%, 65.5% held-out on seeds 0-2; at
#: batch 16 a step costs two thirds as much, and 1,133-1,180 steps at 1e-3
#: reached 64%, 99%, 85.5% (code: 59%, 53.5%, 51% to 78.5%, 76.5%, 79%).
SMALL_BATCH = 16
FEW_STEPS = 1000
#: Stop once dev accuracy reaches this; or after this many checks without a gain.
TARGET = 0.99
PATIENCE = 4
#: Dev checks over a run, and the fewest steps between two.
CHECKS = 12
MIN_EVAL_EVERY = 100
#: Passes over a fixed file's train split beyond which the recipe warns.
MAX_PASSES = 40
#: The fewest train-split exercises a layer is trained on.
MIN_TRAIN_EXERCISES = 50


class BudgetTooSmall(ValueError):
    """The budget pays for too few steps to learn anything; the message says how many."""


@dataclass(frozen=True)
class Timing:
    """Measured seconds of wall clock per training step, per precision."""

    step_seconds: dict[str, float]
    #: Seconds of one dev check (greedy answers to the dev exercises).
    eval_seconds: float
    threads: int


@dataclass(frozen=True)
class Recipe:
    learning_rate: float
    rank: int
    alpha: int
    steps: int
    batch: int
    precision: str
    schedule: str
    eval_every: int
    patience: int
    target: float
    #: Seconds of wall clock the whole run is expected to take from here.
    estimate_seconds: float
    reasons: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


def choose_precision(timing: Timing) -> tuple[str, str]:
    """float32 unless another precision is clearly faster here (and why)."""
    base = timing.step_seconds.get("float32")
    fastest = min(timing.step_seconds, key=lambda p: timing.step_seconds[p])
    if base is None:
        return fastest, f"{fastest}: the only precision measured"
    speedup = base / timing.step_seconds[fastest]
    if fastest != "float32" and speedup >= FASTER:
        return fastest, f"{fastest}: {speedup:.2f}x the steps a second of float32 on this CPU"
    return "float32", (
        f"float32: other precisions were at most {speedup:.2f}x faster here "
        f"(below {FASTER}x), and float32 rounds nothing"
    )


def choose_batch(steps_at_batch: int, few_steps: int = FEW_STEPS) -> tuple[int, str]:
    """``BATCH``, or ``SMALL_BATCH`` where a run at ``BATCH`` would make fewer than
    ``FEW_STEPS`` steps (and why)."""
    if steps_at_batch >= few_steps:
        return BATCH, ""
    return SMALL_BATCH, (
        f"batch {SMALL_BATCH}: the budget pays for only {steps_at_batch} steps of batch "
        f"{BATCH} (under {few_steps}), and a skill with dear steps learns more from more "
        "updates than from more examples in each"
    )


def probe_cost(timing: Timing, precision: str, rates: tuple[float, ...] = PROBE_RATES) -> float:
    """Wall seconds the learning-rate probes will take (none for a single rate)."""
    if len(rates) < 2:
        return 0.0
    return len(rates) * (PROBE_STEPS * timing.step_seconds[precision] + timing.eval_seconds)


def rates_to_probe(planned_steps: int, long_run: int = LONG_RUN) -> tuple[float, ...]:
    """The learning rates worth probing for a run of ``planned_steps``: all of
    ``PROBE_RATES`` for a short run, none above ``LEARNING_RATE`` for a long
    one (``LONG_RUN``), which then spends the probes' time training."""
    if planned_steps <= long_run:
        return PROBE_RATES
    return tuple(rate for rate in PROBE_RATES if rate <= LEARNING_RATE)


def long_run_rate(planned_steps: int, long_run: int = LONG_RUN) -> tuple[float, str]:
    """The rate of a run too long to be offered the larger ones (and why)."""
    return LEARNING_RATE, (
        f"learning rate {LEARNING_RATE:g}: a run of {planned_steps} steps is long, and larger "
        f"rates are probed only for runs of at most {long_run} steps (a 40-step probe measures "
        "early speed, and over a long cosine the larger rate was the unstable one)"
    )


def plan(
    timing: Timing,
    cpu_seconds: float,
    *,
    train_examples: int | None,
    learning_rate: float,
    rate_reason: str,
    precision: str,
    precision_reason: str,
    spent_cpu_seconds: float = 0.0,
    batch: int = BATCH,
    batch_reason: str = "",
) -> Recipe:
    """The run's steps, checks and warnings for what is left of the budget."""
    wall_left = max(0.0, cpu_seconds - spent_cpu_seconds) / max(1, timing.threads)
    step = timing.step_seconds[precision]
    steps = _affordable_steps(wall_left, step, timing.eval_seconds)
    if steps < MIN_STEPS:
        needed = MIN_STEPS * step + checks_in(MIN_STEPS) * timing.eval_seconds
        affordable = math.ceil((spent_cpu_seconds + needed * timing.threads) / 6) / 10
        raise BudgetTooSmall(
            f"a budget of {cpu_seconds / 60:.1f} CPU-minutes pays for {max(0, steps)} training "
            f"steps at the measured {step:.3f} s a step on {timing.threads} threads; at least "
            f"{MIN_STEPS} are needed: give at least {affordable:.1f} CPU-minutes"
        )
    eval_every = max(MIN_EVAL_EVERY, steps // CHECKS)
    checks = checks_in(steps)
    reasons = [
        f"{steps} steps: what {cpu_seconds / 60:.1f} CPU-minutes pay for at {step:.3f} s a "
        f"step on {timing.threads} threads, after the probes and {checks} dev checks",
        rate_reason,
        precision_reason,
        f"rank {RANK} on every linear module and the head, batch {batch}, cosine schedule "
        "over the planned steps",
        *([batch_reason] if batch_reason else []),
        f"dev accuracy checked every {eval_every} steps: stops at {TARGET:.0%} or after "
        f"{PATIENCE} checks without a gain, and keeps the best layer checked",
    ]
    warnings = []
    if train_examples is not None:
        passes = steps * batch / max(1, train_examples)
        reasons.append(
            f"{train_examples} distinct train-split exercises: {passes:.0f} passes over them"
        )
        if passes > MAX_PASSES:
            warnings.append(
                f"the plan makes {passes:.0f} passes over {train_examples} distinct exercises, "
                f"far more than the data supports (over {MAX_PASSES} passes a small model "
                "memorises rather than learns): the dev checks will stop it when dev accuracy "
                "stops rising; more distinct exercises would help more than more steps"
            )
    estimate = steps * step + checks * timing.eval_seconds
    return Recipe(
        learning_rate=learning_rate,
        rank=RANK,
        alpha=ALPHA,
        steps=steps,
        batch=batch,
        precision=precision,
        schedule="cosine",
        eval_every=eval_every,
        patience=PATIENCE,
        target=TARGET,
        estimate_seconds=round(estimate, 1),
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def checks_in(steps: int) -> int:
    """Dev checks a run of ``steps`` makes: one every ``steps // CHECKS`` steps but
    never closer than ``MIN_EVAL_EVERY``, and one at the end."""
    every = max(MIN_EVAL_EVERY, steps // CHECKS)
    return -(-steps // every)


def _affordable_steps(wall_left: float, step: float, eval_seconds: float) -> int:
    """The most steps that fit in ``wall_left`` with the dev checks they bring,
    so a short run reserves time for the few checks it will make, not for
    ``CHECKS`` (a skill graded by running code checks slowly: reserving twelve
    checks where four were made left a fifth of its budget unspent)."""
    steps = 0
    for checks in range(1, CHECKS + 2):
        fit = int((wall_left - checks * eval_seconds) / step)
        if fit > 0 and checks_in(fit) <= checks:
            steps = max(steps, fit)
    return steps


def choose_rate(losses: dict[float, float]) -> tuple[float, str]:
    """The smallest probed learning rate whose dev loss is within ``RATE_MARGIN``
    of the lowest (and why). A 40-step probe rewards early speed; over a run of
    thousands of steps the larger rate was the unstable one (a fields skill
    whose 3e-3 probe won by 3%: dev accuracy 5%, 20%, 2%, 12%, stopped at 17.5%
    held-out), so it must win clearly to be chosen."""
    finite = {lr: loss for lr, loss in losses.items() if loss == loss and loss != float("inf")}
    if not finite:
        lr = min(losses)
        return lr, f"learning rate {lr:g}: every probe diverged, so the smallest"
    lowest = min(finite.values())
    best = min(lr for lr, loss in finite.items() if loss <= lowest * (1 + RATE_MARGIN))
    tried = ", ".join(f"{lr:g}: {loss:.3f}" for lr, loss in sorted(losses.items()))
    return best, (
        f"learning rate {best:g}: the smallest whose dev loss after {PROBE_STEPS} steps is "
        f"within {RATE_MARGIN:.0%} of the lowest ({tried})"
    )


@dataclass
class EarlyStopping:
    """Dev accuracy over a run: when to stop, and which check was best."""

    patience: int = PATIENCE
    target: float = TARGET
    history: list[tuple[int, float]] = field(default_factory=list)

    @property
    def best(self) -> tuple[int, float] | None:
        """The first check with the highest accuracy (earlier: fewer steps of memorising)."""
        if not self.history:
            return None
        top = max(score for _, score in self.history)
        return next((step, score) for step, score in self.history if score == top)

    def observe(self, step: int, accuracy: float) -> bool:
        """Record a check; True when the run should stop.

        Patience counts only once something has been learned: a skill whose
        answers are long (extraction's JSON) gets none exactly right for a
        while, and there is no memorising to guard against before any
        unseen exercise passes (measured: extraction stopped at 0% after 500
        of 775 planned steps under the plain rule)."""
        self.history.append((step, accuracy))
        if accuracy >= self.target:
            return True
        best = self.best
        assert best is not None
        if best[1] <= 0.0:
            return False
        since = [s for s, _ in self.history if s > best[0]]
        return len(since) >= self.patience

    @property
    def reason(self) -> str:
        best = self.best
        if best is None:
            return "no dev check was made"
        if best[1] >= self.target:
            return f"dev accuracy reached {best[1]:.0%} at step {best[0]}"
        return f"best dev accuracy {best[1]:.0%} at step {best[0]}"
