"""New skills nobody has seen: drawn fresh per seed from families of tasks.

A benchmark of the shipped skills can be tuned to, knowingly or not. These
generators make a different skill for every (family, seed): a different
letter cipher, rotation, field order, sentence template or arithmetic rule,
under a made-up instruction word, so a number reported over several seeds is
for skills nobody on the project looked at. ``to_yaml`` writes one as the
README's YAML skill format with a fixed number of exercises, which is how a
user brings a skill (and how the benchmark trains on it: a fixed file, not an
endless generator).

Families:

- ``cipher``: replace each letter by another (a shift by k, or a random
  permutation of the alphabet).
- ``rotate``: rotate a word's letters left or right by k places.
- ``fields``: reorder comma-separated fields (reverse them, or a fixed
  permutation of three).
- ``extract``: one slot out of a sentence built from a template.
- ``arith``: a small arithmetic rule (a sum of three digits, a*k+c, the
  difference of two numbers, a digit sum, a sum modulo m).
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from continuum_academy.skills import Exercise

LETTERS = string.ascii_lowercase
SYLLABLES = ("ka", "lo", "mi", "ru", "ze", "po", "ta", "ni", "vu", "se", "do", "fe", "gi", "xo")
WORDS = (
    "red", "blue", "green", "gold", "gray", "pink", "teal", "navy", "lime", "plum",
    "oak", "elm", "ash", "fir", "yew", "bay", "box", "cod", "eel", "owl", "fox", "elk",
    "cat", "dog", "bee", "ant", "hen", "ram", "yak", "emu", "jay", "koi",
)  # fmt: skip
NAMES = (
    "Ada", "Bo", "Cy", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kai", "Lu",
    "Max", "Ned", "Oli", "Pam", "Quin", "Rae", "Sol", "Tam", "Uma", "Vic", "Wes", "Zoe",
)  # fmt: skip
PLACES = (
    "Lyon", "Oslo", "Rome", "Lima", "Kobe", "Bern", "Riga", "Kyiv", "Nice", "Baku",
    "Doha", "Faro", "Gent", "Hue", "Ica", "Jena", "Kiel", "Linz", "Metz", "Nara",
)  # fmt: skip
THINGS = ("lamp", "desk", "sofa", "kite", "drum", "vase", "sled", "harp", "bike", "rug")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class Task:
    """One generated skill's rule: how to make a (prompt key, answer, kind) from an RNG."""

    family: str
    summary: str
    rubric: str
    make: Callable[[random.Random], tuple[str, str, str]]


class GeneratedSkill:
    """A skill drawn from a family: a Skill like any shipped one."""

    has_gold = True

    def __init__(self, name: str, task: Task) -> None:
        self.name, self.task = name, task
        self.description = task.summary

    def generate(self, rng: random.Random) -> Exercise:
        prompt, answer, kind = self.task.make(rng)
        return Exercise(
            skill=self.name,
            key=prompt,
            prompt=prompt,
            answer=answer,
            grader={"kind": "exact"},
            rubric=self.task.rubric,
            kind=kind,
        )


def _verb(rng: random.Random) -> str:
    """A made-up instruction word: the prompt names no task the project tuned for."""
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))


def _word(rng: random.Random, low: int = 3, high: int = 7) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(rng.randint(low, high)))


def cipher(seed: int) -> Task:
    rng = random.Random(f"cipher:{seed}")
    verb = _verb(rng)
    if rng.random() < 0.5:
        k = rng.randint(1, 25)
        table = {c: LETTERS[(i + k) % 26] for i, c in enumerate(LETTERS)}
        summary = f"Shift each letter {k} places along the alphabet."
    else:
        shuffled = list(LETTERS)
        rng.shuffle(shuffled)
        table = dict(zip(LETTERS, shuffled, strict=True))
        summary = "Replace each letter by its partner in a fixed secret alphabet."

    def make(r: random.Random) -> tuple[str, str, str]:
        word = _word(r)
        return f"{verb} {word}:", "".join(table[c] for c in word), "cipher"

    return Task("cipher", summary, "Answer with the changed letters only.", make)


def rotate(seed: int) -> Task:
    rng = random.Random(f"rotate:{seed}")
    verb, k, left = _verb(rng), rng.randint(1, 2), rng.random() < 0.5
    side = "left" if left else "right"

    def make(r: random.Random) -> tuple[str, str, str]:
        word = _word(r, 4, 8)
        cut = k if left else len(word) - k
        return f"{verb} {word}:", word[cut:] + word[:cut], f"rotate-{side}"

    summary = f"Rotate a word's letters {k} place{'s' * (k > 1)} to the {side}."
    return Task("rotate", summary, "Answer with the rotated word only.", make)


def fields(seed: int) -> Task:
    rng = random.Random(f"fields:{seed}")
    verb, sep = _verb(rng), rng.choice((",", ";", "/"))
    order = [0, 1, 2]
    while order == [0, 1, 2]:
        rng.shuffle(order)
    reverse = rng.random() < 0.5

    def make(r: random.Random) -> tuple[str, str, str]:
        count = r.randint(2, 5) if reverse else 3
        items = r.sample(WORDS, count)
        out = items[::-1] if reverse else [items[i] for i in order]
        return f"{verb} {sep.join(items)}", sep.join(out), "reverse" if reverse else "permute"

    summary = (
        "Reverse the order of the fields."
        if reverse
        else f"Reorder three fields as {', '.join(str(i + 1) for i in order)}."
    )
    return Task("fields", summary, "Answer with the fields in their new order.", make)


_TEMPLATES = (
    ("{name} sent a {thing} to {place} on {day}.", ("name", "thing", "place", "day")),
    ("On {day}, {name} bought a {thing} in {place}.", ("name", "thing", "place", "day")),
    ("Order {num}: one {thing} for {name}, {place}.", ("num", "thing", "name", "place")),
    ("{place} {day}: {name} fixed the {thing}.", ("place", "day", "name", "thing")),
    ("Ticket {num} from {name} ({place}) about a {thing}.", ("num", "name", "place", "thing")),
)


def extract(seed: int) -> Task:
    rng = random.Random(f"extract:{seed}")
    template, slots = rng.choice(_TEMPLATES)
    slot, verb = rng.choice(slots), _verb(rng)

    def make(r: random.Random) -> tuple[str, str, str]:
        values = {
            "name": r.choice(NAMES),
            "thing": r.choice(THINGS),
            "place": r.choice(PLACES),
            "day": r.choice(DAYS),
            "num": str(r.randint(100, 9999)),
        }
        return f"{verb} {template.format(**values)}", values[slot], slot

    return Task("extract", f"Name the {slot} in a sentence.", f"Answer with the {slot} only.", make)


def arith(seed: int) -> Task:
    rng = random.Random(f"arith:{seed}")
    verb = _verb(rng)
    rule = rng.choice(("sum3", "affine", "difference", "digitsum", "modsum"))
    k, c, m = rng.randint(2, 9), rng.randint(1, 20), rng.randint(5, 13)

    def make(r: random.Random) -> tuple[str, str, str]:
        if rule == "sum3":
            a, b, d = (r.randint(0, 9) for _ in range(3))
            return f"{verb} {a} {b} {d}", str(a + b + d), rule
        if rule == "affine":
            a = r.randint(0, 99)
            return f"{verb} {a}", str(a * k + c), rule
        if rule == "difference":
            a, b = r.randint(0, 99), r.randint(0, 99)
            return f"{verb} {a} {b}", str(abs(a - b)), rule
        if rule == "digitsum":
            n = r.randint(0, 99999)
            return f"{verb} {n}", str(sum(map(int, str(n)))), rule
        a, b = r.randint(0, 99), r.randint(0, 99)
        return f"{verb} {a} {b}", str((a + b) % m), rule

    summaries = {
        "sum3": "Add three digits.",
        "affine": f"Multiply the number by {k} and add {c}.",
        "difference": "The distance between two numbers.",
        "digitsum": "Add up a number's digits.",
        "modsum": f"The sum of two numbers modulo {m}.",
    }
    return Task("arith", summaries[rule], "Answer with the number only.", make)


FAMILIES: dict[str, Callable[[int], Task]] = {
    "cipher": cipher,
    "rotate": rotate,
    "fields": fields,
    "extract": extract,
    "arith": arith,
}


def generated_skill(family: str, seed: int) -> GeneratedSkill:
    """The skill ``family`` draws for ``seed`` (named ``gen-FAMILY-SEED``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    return GeneratedSkill(f"gen-{family}-{seed}", FAMILIES[family](seed))


def to_yaml(skill: GeneratedSkill, count: int, seed: int = 0) -> dict[str, Any]:
    """``count`` distinct exercises of ``skill`` as a YAML skill document."""
    rng = random.Random(f"{skill.name}:yaml:{seed}")
    seen: set[str] = set()
    exercises: list[dict[str, str]] = []
    for _ in range(count * 50):
        exercise = skill.generate(rng)
        if exercise.key in seen:
            continue
        seen.add(exercise.key)
        exercises.append({"prompt": exercise.prompt, "answer": exercise.answer or ""})
        if len(exercises) == count:
            break
    return {
        "name": skill.name,
        "description": skill.description,
        "rubric": skill.task.rubric,
        "exercises": exercises,
    }
