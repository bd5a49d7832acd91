"""Reputation from ratings: a sybil ring cannot lift a bad layer, and few
ratings rank below many good ones."""

from __future__ import annotations

import pytest

from continuum.market.reputation import (
    NEW_RATER_WEIGHT,
    Rating,
    layer_reputation,
    weighted_median,
    wilson_lower_bound,
)

HONEST = [f"honest{i}" for i in range(5)]
AGREED = {rater: 20 for rater in HONEST}  # established raters


def honest(layer: str, score: float) -> list[Rating]:
    return [Rating(layer, r, f"node-{r}", score) for r in HONEST]


@pytest.mark.parametrize("ring_nodes", [1, 50], ids=["one node", "fifty nodes"])
def test_a_ring_of_fifty_fresh_keys_cannot_lift_a_bad_layer(ring_nodes: int) -> None:
    ring = [Rating("bad", f"sybil{i}", f"ring-{i % ring_nodes}", 1.0) for i in range(50)]
    ratings = honest("good", 0.9) + honest("bad", 0.1) + ring
    good = layer_reputation("good", ratings, AGREED)
    bad = layer_reputation("bad", ratings, AGREED)
    assert bad.score < good.score and bad.mean < 0.5 and bad.consensus == 0.1
    assert bad.voters == 5 + ring_nodes


def test_few_ratings_rank_below_many_good_ones() -> None:
    many = honest("many", 0.9)
    one = [Rating("one", "honest0", "node-honest0", 1.0)]
    assert layer_reputation("one", one, AGREED).score < layer_reputation("many", many, AGREED).score
    assert layer_reputation("none", many, AGREED).score == 0.0


def test_weights_medians_and_bounds() -> None:
    assert weighted_median([(0.1, 3.0), (0.9, 1.0), (1.0, 1.0)]) == 0.1
    assert wilson_lower_bound(0.5, 0) == 0.0 and 0 < wilson_lower_bound(0.9, 10) < 0.9
    fresh = layer_reputation("x", [Rating("x", "new", "n", 1.0)], {})
    assert fresh.weight == NEW_RATER_WEIGHT
    with pytest.raises(ValueError, match="between 0 and 1"):
        Rating("x", "r", "n", 1.5)
