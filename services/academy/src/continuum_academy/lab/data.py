"""Training data for a skill: passed attempts mixed with fresh gold problems.

A skill with gold answers generates as many train-split problems as a job
can use, so a job draws new ones for every batch instead of cycling through
a fixed few thousand: the child learns the skill rather than memorising the
examples it was shown (measured in docs/benchmarks.md). Passed attempts, a
fixed list, are mixed in at the rate the job asks for.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from continuum_academy.lab.training import Pair
from continuum_academy.skills import Exercise, Skill, SkillError

#: Draws allowed per train-split problem before a skill is judged to have none.
MAX_TRIES = 1000


@dataclass(frozen=True)
class SkillExamples:
    """Each pair is a passed attempt, or with probability ``gold_share`` a fresh
    gold problem of ``skill``'s train split rendered by ``render``."""

    attempts: Sequence[Pair]
    skill: Skill | None
    render: Callable[[Exercise], str]
    gold_share: float = 1.0
    #: Problem keys never to train on (an evolution run's dev set).
    exclude: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not 0.0 <= self.gold_share <= 1.0:
            raise ValueError("gold_share must be between 0 and 1")
        if self.skill is None or not self.skill.has_gold:
            if not self.attempts:
                raise ValueError("training needs passed attempts or a skill with gold answers")
        elif not self.attempts and self.gold_share == 0.0:
            raise ValueError("training needs passed attempts or a share of gold answers")

    def _gold(self) -> bool:
        return self.skill is not None and self.skill.has_gold and self.gold_share > 0.0

    def batch(self, rng: random.Random, size: int) -> list[Pair]:
        out = []
        for _ in range(size):
            if self._gold() and (not self.attempts or rng.random() < self.gold_share):
                out.append(self._fresh(rng))
            else:
                out.append(self.attempts[rng.randrange(len(self.attempts))])
        return out

    def _fresh(self, rng: random.Random) -> Pair:
        assert self.skill is not None
        for _ in range(MAX_TRIES):
            exercise = self.skill.generate(rng)
            if (
                exercise.split == "train"
                and exercise.gold is not None
                and exercise.key not in self.exclude
            ):
                return self.render(exercise), exercise.gold
        raise SkillError(f"skill {self.skill.name!r} generates no train-split gold answers")


@dataclass(frozen=True)
class MixedExamples:
    """Each pair from one of ``sources`` drawn uniformly: training on several
    skills at once (an evolution member trained on its whole environment)."""

    sources: Sequence[SkillExamples]

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("a mix needs at least one source")

    def batch(self, rng: random.Random, size: int) -> list[Pair]:
        picks = [rng.randrange(len(self.sources)) for _ in range(size)]
        out: list[Pair] = []
        for index in range(len(self.sources)):
            count = picks.count(index)
            if count:
                out += self.sources[index].batch(rng, count)
        return out
