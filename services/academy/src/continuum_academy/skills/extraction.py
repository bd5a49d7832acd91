"""Structured extraction: pull a person's name, age and city out of a sentence as JSON."""

from __future__ import annotations

import json
import random

from continuum_academy.skills import Exercise

NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Guido", "Barbara", "Ken", "Margaret", "Edsger", "Donald",
    "Frances", "John", "Radia", "Tim", "Vint", "Hedy", "Claude", "Sophie", "Niklaus", "Anita",
)  # fmt: skip
CITIES = (
    "Paris", "London", "Oslo", "Rome", "Lima", "Tokyo", "Cairo", "Delhi", "Quito", "Bern",
    "Dakar", "Seoul", "Perth", "Riga", "Kyiv", "Hanoi",
)  # fmt: skip
TEMPLATES = (
    "{name} is {age} and lives in {city}.",
    "{name}, {age}, from {city}.",
    "In {city} lives {name}, aged {age}.",
    "{name} ({age}) moved to {city}.",
)
SCHEMA: dict[str, object] = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "city": {"type": "string"},
    },
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}


class Extraction:
    name = "extraction"
    description = "Extract name, age and city from a sentence as compact JSON."
    has_gold = True
    rubric = 'Answer with JSON only: {"name":...,"age":...,"city":...}.'

    def generate(self, rng: random.Random) -> Exercise:
        name, city, age = rng.choice(NAMES), rng.choice(CITIES), rng.randint(18, 99)
        sentence = rng.choice(TEMPLATES).format(name=name, age=age, city=city)
        expected = {"name": name, "age": age, "city": city}
        return Exercise(
            skill=self.name,
            key=sentence,
            prompt=f"json {sentence}",
            answer=json.dumps(expected, separators=(",", ":")),
            grader={"kind": "json", "schema": SCHEMA, "expected": expected},
            rubric=self.rubric,
            examples=(
                ("json Bo is 30 and lives in Nice.", '{"name":"Bo","age":30,"city":"Nice"}'),
            ),
        )
