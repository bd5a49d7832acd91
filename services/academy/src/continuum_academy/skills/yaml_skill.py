"""A skill from a YAML file of exercises.

```yaml
name: capitals
description: Name the capital of a country.
exercises:
  - prompt: "capital of France:"
    answer: Paris
  - prompt: "capital of Peru:"
    answer: Lima
    grader: {kind: regex, pattern: "^\\s*Lima\\s*$"}
    kind: south-america
  - prompt: "17*3="
    answer: 51
    solution: "7*3=21,1*3+2=5:51"
    grader: {kind: exact, after: ":"}
```

The grader defaults to ``exact`` against ``answer``; ``after`` makes it
compare only what follows the mark's last occurrence, so an exercise can
teach a worked ``solution`` (what training writes) and still be graded on
its answer. Splits come from each prompt's hash, like every other skill's.
An exercise's optional ``kind`` groups it in per-kind reports.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import yaml

from continuum_academy.graders import GRADER_KINDS, grade
from continuum_academy.sandbox import SandboxLimits
from continuum_academy.skills import Exercise, SkillError

NAME = re.compile(r"^[a-z][a-z0-9-]{0,47}$")
MAX_BYTES = 4 * 1024 * 1024
MAX_KIND = 64
MAX_MARK = 8
MAX_TEXT = 4000


class YamlSkill:
    has_gold = True

    def __init__(self, name: str, description: str, exercises: list[Exercise]) -> None:
        self.name, self.description, self.exercises = name, description, exercises
        self.has_gold = all(e.answer is not None for e in exercises)

    def generate(self, rng: random.Random) -> Exercise:
        return rng.choice(self.exercises)


def load_yaml_skill(path: Path) -> YamlSkill:
    where = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SkillError(f"{where}: larger than {MAX_BYTES} bytes")
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SkillError(f"{where}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise SkillError(f"{where}: not valid YAML: {exc}") from None
    return parse_skill_document(document, where)


def parse_skill_document(document: Any, where: str) -> YamlSkill:
    if not isinstance(document, dict):
        raise SkillError(f"{where}: a skill file is a mapping with name, description, exercises")
    name, description = document.get("name"), document.get("description", "")
    if not isinstance(name, str) or not NAME.match(name):
        raise SkillError(f"{where}: name must be lower-case letters, digits and '-' (got {name!r})")
    if not isinstance(description, str):
        raise SkillError(f"{where}: description must be a string")
    items = document.get("exercises")
    if not isinstance(items, list) or not items:
        raise SkillError(f"{where}: exercises must be a non-empty list")
    exercises: list[Exercise] = []
    for index, item in enumerate(items):
        at = f"{where}: exercise {index + 1}"
        if not isinstance(item, dict):
            raise SkillError(f"{at}: must be a mapping with prompt and answer")
        prompt, answer = item.get("prompt"), item.get("answer")
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_TEXT:
            raise SkillError(
                f"{at}: prompt must be a non-empty string of at most {MAX_TEXT} characters"
            )
        if answer is not None and not isinstance(answer, str | int | float):
            raise SkillError(f"{at}: answer must be a string or a number")
        grader = item.get("grader", {"kind": "exact"})
        if not isinstance(grader, dict) or grader.get("kind") not in GRADER_KINDS:
            raise SkillError(f"{at}: grader.kind must be one of {', '.join(GRADER_KINDS)}")
        kind = item.get("kind", "")
        if not isinstance(kind, str) or len(kind) > MAX_KIND:
            raise SkillError(f"{at}: kind must be a string of at most {MAX_KIND} characters")
        if grader["kind"] == "exact" and answer is None:
            raise SkillError(f"{at}: an exact grader needs an answer")
        after = grader.get("after")
        usable = isinstance(after, str) and 0 < len(after) <= MAX_MARK
        if after is not None and (grader["kind"] != "exact" or not usable):
            raise SkillError(
                f"{at}: grader.after is for exact graders: a mark of 1-{MAX_MARK} characters"
            )
        solution = item.get("solution")
        if solution is not None:
            if not isinstance(solution, str) or not solution.strip() or len(solution) > MAX_TEXT:
                raise SkillError(
                    f"{at}: solution must be a non-empty string of at most {MAX_TEXT} characters"
                )
            if answer is None or grader["kind"] != "exact":
                raise SkillError(f"{at}: a solution needs an answer and an exact grader")
            if not grade(grader, str(answer), solution, SandboxLimits()).passed:
                raise SkillError(f"{at}: the solution does not pass its own grader")
        if grader["kind"] == "regex":
            try:
                re.compile(str(grader.get("pattern", "")))
            except re.error as exc:
                raise SkillError(
                    f"{at}: grader.pattern is not a regular expression: {exc}"
                ) from None
        exercises.append(
            Exercise(
                skill=name,
                key=prompt,
                prompt=prompt,
                answer=None if answer is None else str(answer),
                grader=dict(grader),
                rubric=str(item.get("rubric", document.get("rubric", ""))),
                kind=kind,
                solution=solution,
            )
        )
    if len({e.key for e in exercises}) != len(exercises):
        raise SkillError(f"{where}: two exercises have the same prompt")
    return YamlSkill(name, description, exercises)
