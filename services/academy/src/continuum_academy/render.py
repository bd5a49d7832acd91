"""Exercises rendered exactly as a persona sees them (the academy RAG builder's
messages, through the model's prompt format), for the lab's bulk work."""

from __future__ import annotations

from typing import Any

from continuum_academy.skills import Exercise
from continuum_lm.generation import GenerationRequest
from continuum_lm.prompt import exercise_messages, render_prompt

#: The speaker a population member answers as in an evolution run.
STUDENT = "Student"


def render(tokenizer: Any, exercise: Exercise, speaker: str = STUDENT) -> str:
    messages = exercise_messages(exercise.prompt, exercise.rubric, exercise.examples)
    return render_prompt(tokenizer, GenerationRequest(messages=messages, speaker=speaker))


#: The most tokens an exam lets a model write for one answer.
MAX_ANSWER_TOKENS = 256


def max_answer_tokens(exercises: list[Exercise]) -> int:
    """Enough new tokens for the longest gold answer (worked, where the skill
    teaches its work), plus a little slack."""
    longest = max((len((e.gold or "").encode()) for e in exercises), default=16)
    return min(MAX_ANSWER_TOKENS, longest + 4)
