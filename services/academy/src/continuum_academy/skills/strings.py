"""String transformations: reverse a word, or sort its characters."""

from __future__ import annotations

import random
import string

from continuum_academy.skills import Exercise


class Strings:
    name = "strings"
    description = "Reverse a word, or sort its letters alphabetically."
    has_gold = True
    rubric = "Answer with the transformed letters only."

    def __init__(self, min_length: int = 3, max_length: int = 6) -> None:
        self.min_length, self.max_length = min_length, max_length

    def generate(self, rng: random.Random) -> Exercise:
        length = rng.randint(self.min_length, self.max_length)
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(length))
        if rng.random() < 0.5:
            key, answer, kind = f"reverse {word}:", word[::-1], "reverse"
        else:
            key, answer, kind = f"sort {word}:", "".join(sorted(word)), "sort"
        return Exercise(
            skill=self.name,
            key=key,
            prompt=key,
            answer=answer,
            grader={"kind": "exact"},
            rubric=self.rubric,
            examples=(("reverse abc:", "cba"),),
            kind=kind,
        )
