"""A layer's reputation from ratings that a ring of fresh identities cannot lift.

Three defences, in order:

1. **One node, one voice.** Ratings are grouped by the node the rater's
   identity came through: fifty fresh keys minted on one node are one voter
   (their mean score, the weight of their best-established identity).
2. **Weight by record.** A voter's weight grows with the number of ratings
   it gave that agreed with the consensus (``1 - exp(-agreed / 10)``, at
   least :data:`NEW_RATER_WEIGHT`): a new identity counts little.
3. **Clip to consensus (Yuma-style).** The consensus is the weighted median
   of the voters' scores; a vote above it counts as the consensus, so a
   minority voting a layer up cannot move it above what the weighted
   majority supports. (Votes below stand: under-rating is not a way to
   gain.)

What remains is a weighted mean with a lower confidence bound: Wilson's, with
the total weight as the number of observations, so a layer with few ratings
is not ranked above one with many good ones.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: The weight of an identity with no record.
NEW_RATER_WEIGHT = 0.05
#: Agreed ratings at which a rater's weight is ~63% of the most.
RECORD_SCALE = 10.0
_Z = 1.96


@dataclass(frozen=True)
class Rating:
    layer: str
    rater: str
    node: str
    score: float  # 0 (bad) .. 1 (good)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score <= 1.0 or math.isnan(self.score):
            raise ValueError(f"a score is between 0 and 1, not {self.score}")


@dataclass(frozen=True)
class Reputation:
    layer: str
    score: float  # the lower confidence bound, 0..1
    mean: float
    weight: float  # effective number of votes
    voters: int
    consensus: float


def rater_weight(agreed: int) -> float:
    return max(NEW_RATER_WEIGHT, 1.0 - math.exp(-agreed / RECORD_SCALE))


def weighted_median(values: list[tuple[float, float]]) -> float:
    """The value at half the total weight of (value, weight) pairs."""
    ordered = sorted(values)
    total = sum(w for _, w in ordered)
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= total / 2:
            return value
    return ordered[-1][0]


def wilson_lower_bound(mean: float, n: float) -> float:
    if n <= 0:
        return 0.0
    centre = mean + _Z * _Z / (2 * n)
    spread = _Z * math.sqrt(max(0.0, mean * (1 - mean)) / n + _Z * _Z / (4 * n * n))
    return max(0.0, (centre - spread) / (1 + _Z * _Z / n))


def layer_reputation(
    layer: str, ratings: Iterable[Rating], agreed: Mapping[str, int]
) -> Reputation:
    """``layer``'s reputation from its ratings; ``agreed`` counts, per
    rater, earlier ratings that agreed with the consensus."""
    by_node: dict[str, list[Rating]] = defaultdict(list)
    for rating in ratings:
        if rating.layer == layer:
            by_node[rating.node].append(rating)
    voters = [
        (
            sum(r.score for r in group) / len(group),
            max(rater_weight(agreed.get(r.rater, 0)) for r in group),
        )
        for group in by_node.values()
    ]
    if not voters:
        return Reputation(layer, 0.0, 0.0, 0.0, 0, 0.0)
    consensus = weighted_median(voters)
    clipped = [(min(score, consensus), weight) for score, weight in voters]
    weight = sum(w for _, w in clipped)
    mean = sum(s * w for s, w in clipped) / weight
    return Reputation(layer, wilson_lower_bound(mean, weight), mean, weight, len(voters), consensus)
