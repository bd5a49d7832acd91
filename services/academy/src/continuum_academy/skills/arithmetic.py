"""Multi-digit addition and subtraction (non-negative results), graded exactly."""

from __future__ import annotations

import random

from continuum_academy.skills import Exercise


class Arithmetic:
    name = "arithmetic"
    description = "Add or subtract two whole numbers of up to two digits."
    has_gold = True
    rubric = "Answer with the number only."

    def __init__(self, max_value: int = 99) -> None:
        self.max_value = max_value

    def generate(self, rng: random.Random) -> Exercise:
        a, b = rng.randint(0, self.max_value), rng.randint(0, self.max_value)
        if rng.random() < 0.5:
            key, answer, kind = f"{a}+{b}=", a + b, "addition"
        else:
            a, b = max(a, b), min(a, b)
            key, answer, kind = f"{a}-{b}=", a - b, "subtraction"
        return Exercise(
            skill=self.name,
            key=key,
            prompt=key,
            answer=str(answer),
            grader={"kind": "exact"},
            rubric=self.rubric,
            examples=(("12+30=", "42"),),
            kind=kind,
        )
