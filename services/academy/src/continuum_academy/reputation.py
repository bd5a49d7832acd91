"""Grader reputation and the weighted score of an attempt.

A grader's reputation is how often its verdict agrees with the truth on
exercises whose answer is known (the skill's gold answer, checked by its
automated grader), as the mean of a Beta(1, 1) posterior: a new grader
starts at 0.5 and earns its weight. An attempt's score is the mean of its
scores weighted by their graders' reputations, so a careless AI judge or a
thumbs-up-to-everything human counts for little.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ScoreRow:
    attempt_id: str
    key: str
    has_gold: bool
    contestant: str
    grader: str
    source: str
    score: float
    passed: bool


@dataclass(frozen=True)
class Reputation:
    grader: str
    agreed: int
    judged: int

    @property
    def value(self) -> float:
        return (self.agreed + 1) / (self.judged + 2)


def reputations(rows: Iterable[ScoreRow]) -> dict[str, Reputation]:
    by_attempt: dict[str, list[ScoreRow]] = defaultdict(list)
    for row in rows:
        by_attempt[row.attempt_id].append(row)
    agreed: dict[str, int] = defaultdict(int)
    judged: dict[str, int] = defaultdict(int)
    graders: set[str] = set()
    for scores in by_attempt.values():
        graders.update(r.grader for r in scores)
        truth = next((r.passed for r in scores if r.source == "grader" and r.has_gold), None)
        if truth is None:
            continue
        for r in scores:
            judged[r.grader] += 1
            agreed[r.grader] += r.passed == truth
    return {g: Reputation(g, agreed[g], judged[g]) for g in sorted(graders)}


def weighted_scores(
    rows: Iterable[ScoreRow], reputation: Mapping[str, Reputation]
) -> dict[str, tuple[str, str, float]]:
    """attempt id -> (exercise key, contestant, reputation-weighted score)."""
    totals: dict[str, list[float]] = {}
    where: dict[str, tuple[str, str]] = {}
    for row in rows:
        weight = reputation[row.grader].value if row.grader in reputation else 0.5
        total = totals.setdefault(row.attempt_id, [0.0, 0.0])
        total[0] += weight * row.score
        total[1] += weight
        where[row.attempt_id] = (row.key, row.contestant)
    return {a: (*where[a], (t[0] / t[1]) if t[1] else 0.0) for a, t in totals.items()}


def results_by_exercise(
    weighted: Mapping[str, tuple[str, str, float]],
) -> dict[str, dict[str, float]]:
    """exercise key -> contestant -> mean weighted score (the leaderboard's input)."""
    sums: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for key, contestant, score in weighted.values():
        sums[key][contestant].append(score)
    return {k: {c: sum(v) / len(v) for c, v in by.items()} for k, by in sums.items()}
