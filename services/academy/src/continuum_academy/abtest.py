"""A/B tests of a child genome against its parent on held-out exercises.

Each exercise is attempted by both, so the comparison is paired: only
discordant exercises (one right, the other wrong) carry information.

- ``sequential`` (default): a mixture sequential probability ratio test on
  the discordant pairs (H0: each side wins a discordant pair with
  probability 1/2; the mixture over the alternative is uniform). By Ville's
  inequality the chance that the likelihood ratio *ever* reaches 1/alpha
  under H0 is at most alpha, so looking after every exercise ("peeking")
  is safe, and a test can stop as soon as it is decided.
- ``fixed``: after all exercises, a paired bootstrap 95% interval of the
  accuracy difference; a win needs the interval above zero.

Every variant tried in one test is registered before any is evaluated, and
alpha is split across them (Bonferroni), so trying many children and
promoting the best is not a free lunch.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Method = Literal["sequential", "fixed"]
Verdict = Literal["child", "parent", "undecided"]


@dataclass(frozen=True)
class TestResult:
    verdict: Verdict
    child_accuracy: float
    parent_accuracy: float
    child_only: int  # exercises only the child got right
    parent_only: int
    exercises: int
    statistic: float  # log10 likelihood ratio (sequential) or CI low (fixed)
    detail: str
    #: The fixed test's paired bootstrap interval of child - parent accuracy.
    interval: tuple[float, float] | None = None


def _log_mixture_lr(wins: int, losses: int) -> float:
    """log of the Beta(1,1)-mixture likelihood ratio against p = 1/2."""
    n = wins + losses
    log_beta = math.lgamma(wins + 1) + math.lgamma(losses + 1) - math.lgamma(n + 2)
    return log_beta + n * math.log(2.0)


def sequential(
    child: Sequence[bool], parent: Sequence[bool], alpha: float
) -> tuple[Verdict, int, float]:
    """Walk the pairs in order; stop at the first decision. -> verdict, pairs used, log10 LR."""
    wins = losses = 0
    threshold = math.log(1.0 / alpha)
    log_lr = 0.0
    for used, (c, p) in enumerate(zip(child, parent, strict=True), start=1):
        wins += c and not p
        losses += p and not c
        log_lr = _log_mixture_lr(wins, losses)
        if log_lr >= threshold:
            return ("child" if wins > losses else "parent"), used, log_lr / math.log(10)
    return "undecided", len(child), log_lr / math.log(10)


def evaluate(
    child: Sequence[bool],
    parent: Sequence[bool],
    *,
    method: Method = "sequential",
    alpha: float = 0.05,
    variants: int = 1,
    bootstrap: int = 2000,
    seed: int = 0,
) -> TestResult:
    if len(child) != len(parent) or not child:
        raise ValueError("child and parent need results on the same, non-empty exercises")
    if variants < 1:
        raise ValueError("variants must be at least 1")
    level = alpha / variants
    n = len(child)
    child_only = sum(c and not p for c, p in zip(child, parent, strict=True))
    parent_only = sum(p and not c for c, p in zip(child, parent, strict=True))
    acc_c, acc_p = sum(child) / n, sum(parent) / n
    if method == "sequential":
        verdict, used, statistic = sequential(child, parent, level)
        detail = (
            f"mixture SPRT at alpha {level:.3g}: log10 LR {statistic:.2f} "
            f"(threshold {math.log10(1 / level):.2f}) after {used} of {n} exercises"
        )
    else:
        rng = random.Random(seed)
        diffs = [int(c) - int(p) for c, p in zip(child, parent, strict=True)]
        means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(bootstrap))
        low = means[int(level / 2 * (bootstrap - 1))]
        high = means[math.ceil((1 - level / 2) * (bootstrap - 1))]
        verdict = "child" if low > 0 else "parent" if high < 0 else "undecided"
        statistic = low
        detail = (
            f"paired bootstrap {100 * (1 - level):.1f}% CI of the difference "
            f"[{low:+.3f}, {high:+.3f}]"
        )
    interval = (low, high) if method != "sequential" else None
    return TestResult(
        verdict, acc_c, acc_p, child_only, parent_only, n, statistic, detail, interval
    )
