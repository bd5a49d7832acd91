"""A suggested per-use price from demand against supply (no I/O).

The anchor is what similar layers (by embedding) ask: the median of their
per-use prices, or the layer's own price when nothing similar is listed.
Demand moves it: uses per similar listing over the last week (more uses
than the market's neighbours share: dearer) and the trend against the week
before (rising: dearer, falling: cheaper). Both effects are bounded, so a
suggestion never more than doubles or halves the anchor; the creator
accepts it (``market sell --price suggested``) or fixes a price.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

#: Uses per week per competing listing at which demand is "normal".
NORMAL_WEEKLY_USES = 100.0
#: The least a suggestion is (one unit: a free layer is a choice, not a suggestion).
FLOOR = 1


@dataclass(frozen=True)
class Suggestion:
    per_use: int
    anchor: int
    similar: int
    uses_7d: int
    uses_prev_7d: int
    demand_factor: float
    trend_factor: float


def suggest_per_use(
    own: int, similar_prices: Sequence[int], uses_7d: int, uses_prev_7d: int
) -> Suggestion:
    anchor = int(statistics.median(similar_prices)) if similar_prices else own
    anchor = max(FLOOR, anchor)
    supply = len(similar_prices) + 1
    share = uses_7d / (NORMAL_WEEKLY_USES * supply) if supply else 0.0
    # log2: double the normal share -> +25%; a tenth of it -> about -40%, bounded.
    demand = min(1.5, max(0.6, 1.0 + 0.25 * math.log2(max(share, 1e-3))))
    trend = (uses_7d + 1) / (uses_prev_7d + 1)
    trend_factor = min(1.33, max(0.75, math.sqrt(trend)))
    per_use = max(FLOOR, round(anchor * min(2.0, max(0.5, demand * trend_factor))))
    return Suggestion(
        per_use,
        anchor,
        len(similar_prices),
        uses_7d,
        uses_prev_7d,
        round(demand, 3),
        round(trend_factor, 3),
    )
