"""A skill from a YAML file of exercises.

```yaml
name: capitals
description: Name the capital of a country.
rubric: Answer with the city only.        # optional: the instruction every prompt starts with
examples:                                 # optional: worked examples shown before each exercise
  - {prompt: "capital of Spain:", answer: Madrid}
exercises:
  - prompt: "capital of France:"
    answer: Paris
  - prompt: "capital of Peru:"
    answer: Lima
    grader: {kind: regex, pattern: "^\\s*Lima\\s*$"}
    kind: south-america
    split: heldout                        # optional: train or heldout (default: by hash)
  - prompt: "17*3="
    answer: 51
    solution: "7*3=21,1*3+2=5:51"
    grader: {kind: exact, after: ":"}
```

The grader defaults to ``exact`` against ``answer``; ``after`` makes it
compare only what follows the mark's last occurrence, so an exercise can
teach a worked ``solution`` (what training writes) and still be graded on
its answer. An exercise's ``split`` puts it in the train or the held-out
split; without one, its prompt's hash decides (one in five held out), like
every other skill's. An exercise's optional ``kind`` groups it in per-kind
reports. Every error names the file, the line and the exercise's prompt,
and a file with any error is refused whole (nothing half-loaded).
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from continuum_academy.graders import GRADER_KINDS, grade
from continuum_academy.sandbox import SandboxLimits
from continuum_academy.skills import SPLITS, Exercise, SkillError, Split

NAME = re.compile(r"^[a-z][a-z0-9-]{0,47}$")
MAX_BYTES = 4 * 1024 * 1024
MAX_KIND = 64
MAX_MARK = 8
MAX_TEXT = 4000
MAX_EXAMPLES = 8


class YamlSkill:
    has_gold = True

    def __init__(
        self,
        name: str,
        description: str,
        exercises: list[Exercise],
        lines: dict[str, int] | None = None,
        where: str = "",
    ) -> None:
        self.name, self.description, self.exercises = name, description, exercises
        self.has_gold = all(e.answer is not None for e in exercises)
        #: Each exercise's line in its file, by key, so later checks can name it.
        self.lines = lines or {}
        self.where = where

    def generate(self, rng: random.Random) -> Exercise:
        return rng.choice(self.exercises)

    def count(self, split: Split) -> int:
        """How many distinct exercises the file has in ``split``."""
        return sum(1 for e in self.exercises if e.split == split)

    def locate(self, exercise: Exercise) -> str:
        """``file:line: exercise 'prompt'``, for an error about this exercise."""
        line = self.lines.get(exercise.key)
        return f"{self.where}:{line}: exercise {_quote(exercise.prompt)}" if line else self.where


def _quote(prompt: str) -> str:
    return repr(prompt if len(prompt) <= 60 else prompt[:57] + "...")


def load_yaml_skill(path: Path) -> YamlSkill:
    where = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise SkillError(f"{where}: larger than {MAX_BYTES} bytes")
        text = path.read_text()
    except OSError as exc:
        raise SkillError(f"{where}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SkillError(f"{where}: not UTF-8 text") from None
    return parse_skill_text(text, where)


def parse_skill_text(text: str, where: str) -> YamlSkill:
    """A skill from a YAML document's text; errors name ``where`` and the line."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            document = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()  # type: ignore[no-untyped-call]
    except yaml.YAMLError as exc:  # the reader's, the parser's and the constructor's errors
        raise SkillError(f"{where}: not valid YAML: {exc}") from None
    except RecursionError:
        raise SkillError(f"{where}: nested too deeply") from None
    return parse_skill_document(document, where, _item_lines(node))


def _item_lines(node: Any) -> dict[str, list[int]]:
    """The 1-based line of each item of the top-level ``exercises`` and ``examples`` lists."""
    out: dict[str, list[int]] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and isinstance(value, yaml.SequenceNode):
                out[str(key.value)] = [item.start_mark.line + 1 for item in value.value]
    return out


def parse_skill_document(
    document: Any, where: str, item_lines: dict[str, list[int]] | None = None
) -> YamlSkill:
    lines = item_lines or {}
    if not isinstance(document, dict):
        raise SkillError(f"{where}: a skill file is a mapping with name, description, exercises")
    name, description = document.get("name"), document.get("description", "")
    if not isinstance(name, str) or not NAME.match(name):
        raise SkillError(f"{where}: name must be lower-case letters, digits and '-' (got {name!r})")
    if not isinstance(description, str):
        raise SkillError(f"{where}: description must be a string")
    rubric = document.get("rubric", "")
    if not isinstance(rubric, str) or len(rubric) > MAX_TEXT:
        raise SkillError(f"{where}: rubric must be a string of at most {MAX_TEXT} characters")
    examples = _worked_examples(document.get("examples", []), where, lines.get("examples", []))
    items = document.get("exercises")
    if not isinstance(items, list) or not items:
        raise SkillError(f"{where}: exercises must be a non-empty list")
    exercise_lines = lines.get("exercises", [])
    exercises: list[Exercise] = []
    first_line: dict[str, int] = {}
    for index, item in enumerate(items):
        line = exercise_lines[index] if index < len(exercise_lines) else 0
        at = f"{where}:{line}" if line else where
        at += f": exercise {index + 1}"
        exercise = _exercise(item, at, name, rubric, examples)
        if exercise.key in first_line:
            raise SkillError(
                f"{at}: prompt {_quote(exercise.prompt)} is also the prompt of the exercise "
                f"on line {first_line[exercise.key]}"
            )
        first_line[exercise.key] = line
        exercises.append(exercise)
    return YamlSkill(name, description, exercises, first_line, where)


def _worked_examples(raw: Any, where: str, lines: list[int]) -> tuple[tuple[str, str], ...]:
    if not isinstance(raw, list) or len(raw) > MAX_EXAMPLES:
        raise SkillError(f"{where}: examples must be a list of at most {MAX_EXAMPLES} mappings")
    out = []
    for index, item in enumerate(raw):
        at = f"{where}:{lines[index]}" if index < len(lines) else where
        prompt = item.get("prompt") if isinstance(item, dict) else None
        answer = item.get("answer") if isinstance(item, dict) else None
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_TEXT:
            raise SkillError(f"{at}: worked example {index + 1}: prompt must be a non-empty string")
        if not isinstance(answer, str | int | float) or not str(answer).strip():
            raise SkillError(f"{at}: worked example {index + 1}: answer must be a non-empty string")
        out.append((prompt, str(answer)))
    return tuple(out)


def _exercise(
    item: Any, at: str, name: str, rubric: str, examples: tuple[tuple[str, str], ...]
) -> Exercise:
    if not isinstance(item, dict):
        raise SkillError(f"{at}: must be a mapping with prompt and answer")
    prompt, answer = item.get("prompt"), item.get("answer")
    if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_TEXT:
        raise SkillError(
            f"{at}: prompt must be a non-empty string of at most {MAX_TEXT} characters"
        )
    at += f" ({_quote(prompt)})"
    if answer is not None and not isinstance(answer, str | int | float):
        raise SkillError(f"{at}: answer must be a string or a number")
    if isinstance(answer, bool):
        raise SkillError(f"{at}: answer is a YAML boolean; quote it to mean the text")
    if answer is not None and (not str(answer).strip() or len(str(answer)) > MAX_TEXT):
        raise SkillError(f"{at}: answer is empty or longer than {MAX_TEXT} characters")
    grader = item.get("grader", {"kind": "exact"})
    if not isinstance(grader, dict) or grader.get("kind") not in GRADER_KINDS:
        raise SkillError(f"{at}: grader.kind must be one of {', '.join(GRADER_KINDS)}")
    kind = item.get("kind", "")
    if not isinstance(kind, str) or len(kind) > MAX_KIND:
        raise SkillError(f"{at}: kind must be a string of at most {MAX_KIND} characters")
    split = item.get("split")
    if split is not None and split not in SPLITS:
        raise SkillError(f"{at}: split must be train or heldout")
    if grader["kind"] == "exact" and answer is None:
        raise SkillError(f"{at}: an exact grader needs an answer")
    after = grader.get("after")
    usable = isinstance(after, str) and 0 < len(after) <= MAX_MARK
    if after is not None and (grader["kind"] != "exact" or not usable):
        raise SkillError(
            f"{at}: grader.after is for exact graders: a mark of 1-{MAX_MARK} characters"
        )
    _check_grader(grader, at)
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
    elif answer is not None and grader["kind"] in ("regex", "json"):
        # The gold answer is what training writes: it must pass its own grader.
        verdict = grade(grader, str(answer), str(answer), SandboxLimits())
        if not verdict.passed:
            raise SkillError(f"{at}: the answer does not pass its own grader ({verdict.detail})")
    item_rubric = item.get("rubric", rubric)
    if not isinstance(item_rubric, str) or len(item_rubric) > MAX_TEXT:
        raise SkillError(f"{at}: rubric must be a string of at most {MAX_TEXT} characters")
    return Exercise(
        skill=name,
        key=prompt,
        prompt=prompt,
        answer=None if answer is None else str(answer),
        grader=dict(grader),
        rubric=item_rubric,
        examples=examples,
        kind=kind,
        solution=solution,
        assigned_split=split,
    )


def _check_grader(grader: dict[str, Any], at: str) -> None:
    """A grader spec that cannot work is refused here, not at grading time."""
    if grader["kind"] == "regex":
        try:
            re.compile(str(grader.get("pattern", "")))
        except re.error as exc:
            raise SkillError(f"{at}: grader.pattern is not a regular expression: {exc}") from None
    elif grader["kind"] == "json":
        schema = grader.get("schema")
        if schema is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise SkillError(
                    f"{at}: grader.schema is not a JSON schema: {exc.message}"
                ) from None
    elif grader["kind"] == "unit_tests":
        tests = grader.get("tests")
        if not isinstance(tests, list) or not tests or not all(isinstance(t, str) for t in tests):
            raise SkillError(f"{at}: grader.tests must be a non-empty list of assertions")
