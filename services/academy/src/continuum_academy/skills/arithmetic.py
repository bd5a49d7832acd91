"""Multi-digit addition and subtraction (non-negative results), graded exactly.

The gold answer shows its work, the way a person does column arithmetic: the
ones column, then the tens column with the carry (or borrow) from the ones,
then the result after a colon (``47+38=`` is answered ``15,8:85``). The
grader compares the result only, so ``85`` alone passes too. Writing the
columns lets a small model compute each digit from digits it can see, where
the bare answer asks it to know the carry before writing the first digit:
the built-in model learned the bare form to 32% in ten minutes and the worked
form to over 90% (docs/benchmarks.md, ADR 0011).
"""

from __future__ import annotations

import random

from continuum_academy.skills import Exercise

#: What separates the worked columns from the result; the grader reads what follows.
RESULT_MARK = ":"


def worked(a: int, b: int, op: str) -> str:
    """The columns of ``a op b`` (two digits at most) and the result.

    The ones column is written as a two-digit number when it carries or
    borrows (``7+8`` gives ``15``; ``2-7`` borrows and gives ``15`` for
    ``12-7=5`` with a borrow of 1), so the tens column's carry is visible.
    """
    a_tens, a_ones, b_tens, b_ones = a // 10, a % 10, b // 10, b % 10
    if op == "+":
        ones = a_ones + b_ones
        tens = a_tens + b_tens + ones // 10
        return f"{ones},{tens}{RESULT_MARK}{a + b}"
    borrow = int(a_ones < b_ones)
    ones = a_ones + 10 * borrow - b_ones
    tens = a_tens - b_tens - borrow
    return f"{10 * borrow + ones},{tens}{RESULT_MARK}{a - b}"


class Arithmetic:
    name = "arithmetic"
    description = "Add or subtract two whole numbers of up to two digits."
    has_gold = True
    rubric = "Write the ones column, then the tens, then the result after a colon."

    def __init__(self, max_value: int = 99) -> None:
        if not 1 <= max_value <= 99:
            raise ValueError("max_value must be between 1 and 99 (two digits at most)")
        self.max_value = max_value

    def generate(self, rng: random.Random) -> Exercise:
        a, b = rng.randint(0, self.max_value), rng.randint(0, self.max_value)
        if rng.random() < 0.5:
            op, kind = "+", "addition"
        else:
            a, b = max(a, b), min(a, b)
            op, kind = "-", "subtraction"
        key = f"{a}{op}{b}="
        return Exercise(
            skill=self.name,
            key=key,
            prompt=key,
            answer=str(a + b if op == "+" else a - b),
            solution=worked(a, b, op),
            grader={"kind": "exact", "after": RESULT_MARK},
            rubric=self.rubric,
            examples=(("12+30=", worked(12, 30, "+")), ("52-17=", worked(52, 17, "-"))),
            kind=kind,
        )
