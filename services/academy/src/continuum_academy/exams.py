"""Exams in the lab: a genome's answers to exercises, graded (for A/B tests,
self-training reports and the headline benchmark)."""

from __future__ import annotations

from collections.abc import Sequence

from continuum_academy.graders import grade
from continuum_academy.lab.model import Lab
from continuum_academy.lab.weights import LoraWeights
from continuum_academy.render import STUDENT, max_answer_tokens, render
from continuum_academy.sandbox import SandboxLimits
from continuum_academy.skills import Exercise


def passes(
    lab: Lab,
    weights: LoraWeights | None,
    exercises: Sequence[Exercise],
    speaker: str = STUDENT,
    limits: SandboxLimits | None = None,
) -> list[bool]:
    """For each exercise, whether the genome's greedy answer passes its grader."""
    if not exercises:
        return []
    prompts = [render(lab.tokenizer, e, speaker) for e in exercises]
    answers = lab.answers(weights, prompts, max_answer_tokens(list(exercises)))
    return verdicts(exercises, answers, limits)


def verdicts(
    exercises: Sequence[Exercise], answers: Sequence[str], limits: SandboxLimits | None = None
) -> list[bool]:
    """Whether each answer passes its exercise's grader."""
    limits = limits or SandboxLimits()
    return [
        grade(e.grader, e.answer, a, limits).passed for e, a in zip(exercises, answers, strict=True)
    ]


def accuracy(results: Sequence[bool]) -> float:
    return sum(results) / len(results) if results else 0.0


def accuracy_by_kind(exercises: Sequence[Exercise], results: Sequence[bool]) -> dict[str, float]:
    """Accuracy per kind of problem (``Exercise.kind``), sorted by kind; empty
    when the exercises are all of one kind (the overall accuracy says it all)."""
    kinds: dict[str, list[bool]] = {}
    for exercise, passed in zip(exercises, results, strict=True):
        kinds.setdefault(exercise.kind, []).append(passed)
    if len(kinds) < 2:
        return {}
    return {kind or "other": accuracy(rows) for kind, rows in sorted(kinds.items())}
