"""Leaderboards from pairwise results: a Bradley-Terry fit with bootstrap CIs.

Two contestants who attempted the same exercise meet once on it: the higher
score wins, equal scores are a tie (half a win each). The fit is Hunter's MM
algorithm with a weak prior (one tie against a virtual average contestant),
so an unbeaten contestant has a finite strength. Ratings are on the Elo
scale (400·log10 of strength, 1000 = average). Confidence intervals
resample *exercises* with replacement, since results on one exercise are
not independent of each other.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: exercise key -> contestant -> score in [0, 1]
Results = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class Standing:
    contestant: str
    rating: float
    low: float
    high: float
    wins: float
    games: int


def pairwise(results: Results, keys: Sequence[str] | None = None) -> dict[tuple[str, str], float]:
    """(a, b) -> wins of a over b, over the given exercise keys (all by default)."""
    wins: dict[tuple[str, str], float] = defaultdict(float)
    for key in keys if keys is not None else list(results):
        scores = results[key]
        names = sorted(scores)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                if scores[a] > scores[b]:
                    wins[(a, b)] += 1
                elif scores[b] > scores[a]:
                    wins[(b, a)] += 1
                else:
                    wins[(a, b)] += 0.5
                    wins[(b, a)] += 0.5
    return dict(wins)


def fit(contestants: Sequence[str], wins: Mapping[tuple[str, str], float]) -> dict[str, float]:
    """Bradley-Terry strengths (geometric mean 1) by minorization-maximization."""
    strength = {c: 1.0 for c in contestants}
    total_wins = {c: 0.5 for c in contestants}  # the prior's half win
    games: dict[tuple[str, str], float] = defaultdict(float)
    for (a, b), w in wins.items():
        total_wins[a] += w
        games[(a, b)] += w
        games[(b, a)] += w
    for _ in range(200):
        updated = {}
        for c in contestants:
            denominator = 1.0 / (strength[c] + 1.0)  # the prior game against strength 1
            for d in contestants:
                n = games.get((c, d), 0.0)
                if n and d != c:
                    denominator += n / (strength[c] + strength[d])
            updated[c] = total_wins[c] / denominator
        scale = math.exp(sum(math.log(v) for v in updated.values()) / len(updated))
        updated = {c: v / scale for c, v in updated.items()}
        converged = max(abs(updated[c] - strength[c]) for c in contestants) < 1e-9
        strength = updated
        if converged:
            break
    return strength


def rating(strength: float) -> float:
    return 1000.0 + 400.0 * math.log10(strength)


def standings(results: Results, *, bootstrap: int = 200, seed: int = 0) -> list[Standing]:
    """Contestants by rating, best first, each with a 95% bootstrap interval."""
    keys = sorted(k for k, scores in results.items() if len(scores) >= 2)
    contestants = sorted({c for k in keys for c in results[k]})
    if not contestants:
        return []
    wins = pairwise(results, keys)
    point = fit(contestants, wins)
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {c: [] for c in contestants}
    for _ in range(bootstrap if keys else 0):
        drawn = [keys[rng.randrange(len(keys))] for _ in keys]
        fitted = fit(contestants, pairwise(results, drawn))
        for c in contestants:
            samples[c].append(rating(fitted[c]))
    out = []
    for c in contestants:
        played = [k for k in keys if c in results[k]]
        won = sum(w for (a, _), w in wins.items() if a == c)
        values = sorted(samples[c]) or [rating(point[c])]
        low = values[int(0.025 * (len(values) - 1))]
        high = values[math.ceil(0.975 * (len(values) - 1))]
        out.append(Standing(c, rating(point[c]), low, high, won, len(played)))
    return sorted(out, key=lambda s: (-s.rating, s.contestant))
