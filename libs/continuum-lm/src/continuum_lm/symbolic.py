"""Procedural symbolic tasks for pre-training the built-in model.

A model pre-trained on prose alone has no machinery for the work most
academy skills are made of: finding the i-th character of the prompt,
copying it, mapping it through a table, carrying a digit. A LoRA layer then
has to build that machinery from a skill's few thousand examples, and
memorises them instead (docs/benchmarks.md: a new cipher skill at 4%
held-out after 1,500 steps). So pre-training mixes prose with *episodes*:
transcripts, in the exact shape the academy renders an exercise (a rubric
line, ``User:`` turns, a speaker's answers), of a task drawn at random with
random parameters (a random cipher, a random rotation, a random made-up
instruction word), several examples long. Predicting the later answers of
an episode means inferring the task from the earlier ones, so the model
learns the general operations (align, copy, look up, map, count, add)
rather than any one task; a layer trained on a new skill then only has to
fix which operation and parameters its skill uses.

The operations are generic primitives; none is an academy skill's generator
(those live in the academy, which this library does not import), and the
made-up words and tables are drawn fresh per episode.
"""

from __future__ import annotations

import random
import string
from collections.abc import Callable

LETTERS = string.ascii_lowercase
SYLLABLES = (
    "ba", "ke", "li", "mo", "nu", "ra", "se", "ti", "vo", "wu", "za", "pe", "go", "fi", "du", "ho",
)  # fmt: skip
SPEAKERS = ("Student", "Student", "Student", "Ava", "Nova", "Sage", "Echo", "Atlas", "Iris")
RUBRICS = (
    "Answer the exercise.",
    "Answer with the result only.",
    "Answer with the changed letters only.",
    "Answer with the number only.",
    "Follow the examples.",
)
NOUNS = (
    "cup", "map", "key", "box", "pen", "hat", "jar", "net", "oar", "rug", "saw", "tub",
    "owl", "elk", "yak", "emu", "ant", "bee", "cod", "eel", "fox", "hen", "ram", "koi",
)  # fmt: skip
NAMES = (
    "Ana", "Ben", "Cleo", "Dan", "Eva", "Finn", "Gia", "Hugo", "Ines", "Jack", "Kim", "Leo",
    "Mia", "Noah", "Omar", "Pia", "Rosa", "Sam", "Tess", "Ugo", "Vera", "Will", "Yara", "Zed",
)  # fmt: skip
TOWNS = (
    "Avon", "Brig", "Cork", "Dole", "Eton", "Fife", "Graz", "Hove", "Ivry", "Jaen", "Kent",
    "Luga", "Mons", "Nord", "Orly", "Pisa", "Reus", "Sion", "Tula", "Ulm", "Vaux", "Wick",
)  # fmt: skip

Make = Callable[[random.Random], tuple[str, str]]


def _word(rng: random.Random, low: int = 2, high: int = 8, alphabet: str = LETTERS) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def _table(rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.5:
        k = rng.randint(1, 25)
        return {c: LETTERS[(i + k) % 26] for i, c in enumerate(LETTERS)}
    shuffled = list(LETTERS)
    rng.shuffle(shuffled)
    return dict(zip(LETTERS, shuffled, strict=True))


DIGITS = "0123456789"
#: Operations that apply to any character, not only letters (a code's digits too).
ANY_CHARACTER = ("copy", "reverse", "sort", "rotate", "double", "first", "last", "swap")


def _letters_task(rng: random.Random, open_values: bool = False) -> Make:
    """An operation on a word's letters, with its parameters fixed for the episode.

    ``open_values``: words of operations that apply to any character are
    sometimes codes of letters and digits, so copying works for digits too."""
    op = rng.choice(
        ("copy", "reverse", "map", "map", "map", "sort", "rotate", "double", "first", "last",
         "upper", "drop", "swap", "mapreverse")
    )  # fmt: skip
    table, k = _table(rng), rng.randint(1, 3)
    drop = rng.choice(LETTERS)

    def apply(word: str) -> str:
        if op == "copy":
            return word
        if op == "reverse":
            return word[::-1]
        if op == "map":
            return "".join(table[c] for c in word)
        if op == "mapreverse":
            return "".join(table[c] for c in reversed(word))
        if op == "sort":
            return "".join(sorted(word))
        if op == "rotate":
            cut = k % len(word)
            return word[cut:] + word[:cut]
        if op == "double":
            return "".join(c + c for c in word)
        if op == "first":
            return word[:k]
        if op == "last":
            return word[-k:]
        if op == "upper":
            return word.upper()
        if op == "drop":
            return word.replace(drop, "") or "-"
        return word[1::2] + word[0::2]  # swap: odd places, then even

    alphabet = LETTERS
    if open_values and op in ANY_CHARACTER and rng.random() < 0.5:
        alphabet = rng.choice((DIGITS, LETTERS + DIGITS))

    def make(r: random.Random) -> tuple[str, str]:
        word = _word(r, 3, 8, alphabet)
        return word + ":", apply(word)

    return make


def _numbers_task(rng: random.Random, open_values: bool = False) -> Make:
    """Arithmetic on numbers (open values already: ``open_values`` changes nothing)."""
    op = rng.choice(("add", "add", "sub", "count", "length", "next", "max", "affine", "digits"))
    k, c = rng.randint(2, 9), rng.randint(0, 19)
    letter = rng.choice(LETTERS[:8])

    def make(r: random.Random) -> tuple[str, str]:
        a, b = r.randint(0, 99), r.randint(0, 99)
        if op == "add":
            return f"{a}+{b}=", str(a + b)
        if op == "sub":
            a, b = max(a, b), min(a, b)
            return f"{a}-{b}=", str(a - b)
        if op == "count":
            word = _word(r, 3, 10, LETTERS[:8])
            return f"{word} {letter}?", str(word.count(letter))
        if op == "length":
            word = _word(r, 1, 12)
            return word, str(len(word))
        if op == "next":
            return str(a), str(a + 1)
        if op == "max":
            values = [r.randint(0, 99) for _ in range(3)]
            return " ".join(map(str, values)), str(max(values))
        if op == "affine":
            return str(a), str(a * k + c)
        n = r.randint(0, 9999)
        return str(n), str(sum(map(int, str(n))))

    return make


def _fields_task(rng: random.Random, open_values: bool = False) -> Make:
    """Fields of a list or slots of a sentence: picked, reordered, looked up.

    ``open_values``: sentences also carry a number (an age, an order) and a
    made-up word, and any slot may be asked for: a value copied out of a
    sentence is then not always one from a list the model has seen."""
    op = rng.choice(("pick", "reverse", "lookup", "slot", "slot", "join"))
    sep = rng.choice((",", ";", " ", "/", "|"))
    index = rng.randint(0, 2)
    slot = rng.choice(("name", "town", "thing"))
    shape = rng.choice(
        ("{name} took the {thing} to {town}.", "In {town}, {name} lost a {thing}.",
         "{thing} for {name} ({town})", "{town}: {name} sold a {thing}.")
    )  # fmt: skip
    if open_values and op == "slot" and rng.random() < 0.5:
        slot = rng.choice(("name", "town", "num", "num", "code"))
        shape = rng.choice(
            ("{name} is {num} and lives in {town}.", "{name}, {num}, from {town}.",
             "Order {num}: a {code} for {name}.", "In {town}, {name} ({num}) met {code}.")
        )  # fmt: skip

    def make(r: random.Random) -> tuple[str, str]:
        items = r.sample(NOUNS, r.randint(3, 5))
        if op == "pick":
            return sep.join(items), items[index]
        if op == "reverse":
            return sep.join(items), sep.join(reversed(items))
        if op == "join":
            return " ".join(items), sep.join(items)
        if op == "lookup":
            keys = r.sample(LETTERS, 4)
            digits = [str(r.randint(0, 9)) for _ in keys]
            ask = r.choice(keys)
            pairs = " ".join(f"{key}={value}" for key, value in zip(keys, digits, strict=True))
            return f"{pairs} {ask}?", digits[keys.index(ask)]
        slots = {"name": r.choice(NAMES), "town": r.choice(TOWNS), "thing": r.choice(NOUNS)}
        if open_values:
            slots["num"], slots["code"] = str(r.randint(0, 999)), _word(r, 3, 7)
        return shape.format(**slots), slots[slot]

    return make


TASKS = (_letters_task, _letters_task, _numbers_task, _fields_task)


def episode(rng: random.Random, open_values: bool = False) -> str:
    """One transcript: a task drawn with random parameters, 3-10 of its examples."""
    task = rng.choice(TASKS)
    make = task(rng, open_values)
    verb = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
    speaker = rng.choice(SPEAKERS)
    lines = [rng.choice(RUBRICS)]
    for _ in range(rng.randint(3, 10)):
        prompt, answer = make(rng)
        lines.append(f"User: {verb} {prompt}")
        lines.append(f"{speaker}: {answer}")
    return "\n".join(lines) + "\n\n"


def episodes(rng: random.Random, chars: int, open_values: bool = False) -> str:
    """At least ``chars`` characters of episodes."""
    parts: list[str] = []
    total = 0
    while total < chars:
        parts.append(episode(rng, open_values))
        total += len(parts[-1])
    return "".join(parts)
