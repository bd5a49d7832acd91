"""Automated graders: exact, regex, JSON (schema plus expected fields), unit tests.

A grade is a score in [0, 1], a pass/fail verdict and a one-line detail a
person can read. Graders never raise on a bad answer: a bad answer is a
failed attempt. A bad *grader spec* is a SkillError, found when the
exercise is made, not when it is graded.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema

from continuum_academy.sandbox import SandboxLimits, run_unit_tests

GRADER_KINDS = ("exact", "regex", "json", "unit_tests", "game_move")


@dataclass(frozen=True)
class Grade:
    score: float
    passed: bool
    detail: str


def normalise(text: str) -> str:
    """The answer as a grader compares it: the first line, trimmed.

    Small models run on after the answer; the first line is the answer.
    """
    return text.strip().split("\n", 1)[0].strip()


def result_of(spec: dict[str, Any], line: str) -> str:
    """The part of an answer an exact grader compares: with ``after`` in the
    spec (a mark such as ``:``), what follows its last occurrence, so worked
    answers (``15,8:85``) and bare ones (``85``) are graded alike."""
    mark = spec.get("after")
    if isinstance(mark, str) and mark and mark in line:
        return line.rsplit(mark, 1)[1].strip()
    return line


def grade(spec: dict[str, Any], answer: str | None, attempt: str, limits: SandboxLimits) -> Grade:
    kind = spec.get("kind")
    if kind == "exact":
        got, want = result_of(spec, normalise(attempt)), (answer or "").strip()
        ok = got == want
        return Grade(1.0 if ok else 0.0, ok, "exact match" if ok else f"expected {want!r}")
    if kind == "regex":
        ok = re.search(str(spec.get("pattern", "")), attempt) is not None
        return Grade(1.0 if ok else 0.0, ok, "pattern matched" if ok else "pattern not found")
    if kind == "json":
        return _grade_json(spec, normalise(attempt))
    if kind == "game_move":
        return _grade_move(spec, normalise(attempt))
    if kind == "unit_tests":
        result = run_unit_tests(
            attempt, str(spec.get("function", "f")), list(spec.get("tests", [])), limits
        )
        passed = result.passed == result.total and result.total > 0
        score = result.passed / result.total if result.total else 0.0
        return Grade(score, passed, result.detail)
    return Grade(0.0, False, f"no automated grader of kind {kind!r}")


def _grade_json(spec: dict[str, Any], text: str) -> Grade:
    try:
        value = json.loads(text)
    except ValueError:
        return Grade(0.0, False, "not JSON")
    schema = spec.get("schema")
    if schema is not None:
        try:
            jsonschema.validate(value, schema)
        except jsonschema.ValidationError as exc:
            return Grade(0.0, False, f"does not match the schema: {exc.message[:120]}")
    expected = spec.get("expected")
    if expected is None:
        return Grade(1.0, True, "valid JSON")
    if not isinstance(expected, dict) or not isinstance(value, dict):
        ok = value == expected
        return Grade(1.0 if ok else 0.0, ok, "equal" if ok else "not the expected value")
    right = [k for k, v in expected.items() if value.get(k) == v]
    ok = len(right) == len(expected) and set(value) == set(expected)
    wrong = sorted(set(expected) - set(right))
    detail = "all fields right" if ok else f"wrong or missing: {', '.join(wrong) or 'extra keys'}"
    return Grade(len(right) / max(1, len(expected)), ok, detail)


def _grade_move(spec: dict[str, Any], line: str) -> Grade:
    """Any move the reference search values as highly as its own is a pass."""
    from continuum.games import IllegalMove, Position, move_values, parse_move

    try:
        position = Position.replay(spec["game"], list(spec["moves"]))
    except (IllegalMove, KeyError, TypeError) as exc:
        return Grade(0.0, False, f"the exercise's position is unusable: {exc}")
    move = parse_move(line)
    if move is None:
        return Grade(0.0, False, f"{line[:40]!r} names no move")
    try:
        position.play(move)
    except IllegalMove as exc:
        return Grade(0.0, False, f"illegal: {exc}")
    values = move_values(position)
    best = max(values.values())
    if values[move] >= best:
        return Grade(1.0, True, f"{move} is a best move")
    better = sorted(m for m, v in values.items() if v == best)
    return Grade(0.0, False, f"{move} is legal, but {', '.join(map(str, better))} is better")
