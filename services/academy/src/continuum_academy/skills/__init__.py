"""Skills: exercise generators with graders.

A skill makes exercises from a seeded random generator. Every exercise has a
canonical *key* (what makes two exercises the same problem); the key's hash
puts it in the ``train`` or the ``heldout`` split, so the two splits never
share a problem however many exercises are drawn, on any node, with any seed.

Skills ship with the project (arithmetic, strings, extraction, code) and a
user adds one as a Python entry point in the ``continuum.academy.skills``
group or as a YAML file of exercises (see ``yaml_skill``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Split = Literal["train", "heldout"]
SPLITS: tuple[Split, ...] = ("train", "heldout")
#: One problem in five is held out.
HELDOUT_SHARE = 5


class SkillError(ValueError):
    """A skill, exercise or skill file is not usable; the message says why."""


def split_of(skill: str, key: str) -> Split:
    digest = hashlib.sha256(f"{skill}\x00{key}".encode()).digest()
    return "heldout" if int.from_bytes(digest[:4], "big") % HELDOUT_SHARE == 0 else "train"


@dataclass(frozen=True)
class Exercise:
    """One problem: what the solver sees, and how an answer is graded.

    ``grader`` is a plain dict (kind plus parameters) so it can travel in an
    event; ``answer`` is the gold answer when the skill knows one (it is
    never shown to the solver), and ``solution`` the same answer with its
    work shown, when the skill teaches one.
    """

    skill: str
    key: str
    prompt: str
    grader: dict[str, Any]
    answer: str | None = None
    rubric: str = ""
    examples: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    #: The kind of problem within the skill (arithmetic: addition or subtraction),
    #: so a report can say which kind a layer has learned; empty: the skill has one.
    kind: str = ""
    #: The gold answer written out as the skill teaches it, work first (arithmetic's
    #: columns), when that differs from ``answer``; the grader still checks ``answer``.
    solution: str | None = None
    #: The split its author chose (a YAML exercise's ``split``); None: the key's hash decides.
    assigned_split: Split | None = None

    @property
    def gold(self) -> str | None:
        """What a layer is trained to write: the worked solution, else the answer."""
        return self.solution if self.solution is not None else self.answer

    @property
    def split(self) -> Split:
        return self.assigned_split or split_of(self.skill, self.key)

    @property
    def exercise_key(self) -> str:
        """A short id for the problem, shared by everyone who attempts it."""
        return hashlib.sha256(f"{self.skill}\x00{self.key}".encode()).hexdigest()[:16]


class Skill(Protocol):
    name: str
    description: str
    #: Whether ``answer`` is always the exact expected output (gold data to train on).
    has_gold: bool

    def generate(self, rng: random.Random) -> Exercise: ...


def available(skill: Skill, split: Split) -> int | None:
    """How many distinct exercises ``skill`` has in ``split``, where that is a
    fixed number (a skill file); None for a generator."""
    count = getattr(skill, "count", None)
    return int(count(split)) if callable(count) else None


def draw(skill: Skill, split: Split, count: int, seed: int) -> list[Exercise]:
    """``count`` distinct exercises of ``split``, the same for the same seed."""
    if count < 1:
        raise SkillError("count must be at least 1")
    have = available(skill, split)
    if have is not None and have < count:
        raise SkillError(
            f"skill {skill.name!r} has {have} {split} exercises; {count} were asked for"
        )
    rng = random.Random(f"{skill.name}:{split}:{seed}")
    seen: set[str] = set()
    out: list[Exercise] = []
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > count * 200 + 1000:
            raise SkillError(
                f"skill {skill.name!r} has fewer than {count} distinct {split} exercises"
            )
        exercise = skill.generate(rng)
        if exercise.split != split or exercise.key in seen:
            continue
        seen.add(exercise.key)
        out.append(exercise)
    return out
