"""Code: write a small Python function, graded by hidden unit tests in the sandbox."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from continuum_academy.skills import Exercise

Family = tuple[str, str, Callable[[Any, int], Any], Callable[[random.Random], Any]]


def _ints(rng: random.Random) -> Any:
    return rng.randint(-50, 50)


def _words(rng: random.Random) -> Any:
    return "".join(rng.choice("abcxyz") for _ in range(rng.randint(0, 6)))


def _lists(rng: random.Random) -> Any:
    return [rng.randint(-20, 20) for _ in range(rng.randint(0, 6))]


#: (task text with {k}, gold body with {k}, reference implementation, argument maker)
FAMILIES: tuple[Family, ...] = (
    ("returns x * {k} + 1", "return x * {k} + 1", lambda x, k: x * k + 1, _ints),
    ("returns s repeated {k} times", "return s * {k}", lambda s, k: s * k, _words),
    (
        "returns the sum of the items of xs greater than {k}",
        "return sum(v for v in xs if v > {k})",
        lambda xs, k: sum(v for v in xs if v > k),
        _lists,
    ),
    (
        "returns the number of items of xs equal to {k}",
        "return xs.count({k})",
        lambda xs, k: xs.count(k),
        _lists,
    ),
)
ARGUMENT: dict[Callable[[random.Random], Any], str] = {_ints: "x", _words: "s", _lists: "xs"}


class Code:
    name = "code"
    description = "Write a small Python function; hidden unit tests grade it in a sandbox."
    has_gold = True
    rubric = "Answer with the Python function definition only."

    def generate(self, rng: random.Random) -> Exercise:
        text, body, reference, make = rng.choice(FAMILIES)
        k = rng.randint(1, 250)
        arg = ARGUMENT[make]
        task = text.format(k=k)
        tests = []
        for _ in range(6):
            value = make(rng)
            tests.append([[value], reference(value, k)])
        return Exercise(
            skill=self.name,
            key=task,
            prompt=f"Write a Python function f({arg}) that {task}.",
            answer=f"def f({arg}): {body.format(k=k)}",  # one line: an answer is a line
            grader={"kind": "unit_tests", "function": "f", "tests": tests},
            rubric=self.rubric,
            examples=(
                ("Write a Python function f(x) that returns x + 1.", "def f(x): return x + 1"),
            ),
            kind=text.format(k="k"),
        )
