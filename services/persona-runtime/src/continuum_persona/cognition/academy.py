"""The academy domain: an exercise as context, the answer as an attempt.

The RAG builder gives the persona the exercise's rubric, its worked
examples as earlier turns, and the exercise itself, nothing else (no room
history, no memories: an exam is answered on its own). The executor hands
the answer to the academy as the persona's attempt, like any other
submitter's. ``continuum_lm.prompt.exercise_messages`` is also how the academy's lab renders
exercises when it trains and evaluates layers in bulk, so a layer learns
exactly the prompt a persona will see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from continuum_lm.generation import ChatMessage
from continuum_lm.prompt import exercise_messages
from continuum_persona.cognition.domains import Generation, Perception, Situation
from continuum_persona.personas import Persona

Submit = Callable[[Persona, Situation, Generation], Awaitable[None]]


class AcademyRagBuilder:
    def build(
        self,
        persona: Persona,
        situation: Situation,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> Perception:
        context: dict[str, Any] = situation.context
        examples = list(context.get("examples") or [])
        while True:
            messages = exercise_messages(situation.text, str(context.get("rubric", "")), examples)
            tokens = sum(count_tokens(m.content) for m in messages)
            if tokens <= budget_tokens or not examples:
                break
            examples.pop()  # worked examples go first when the context is short
        truncated = False
        if tokens > budget_tokens:  # the exercise alone is too long: keep its end
            keep = max(16, len(situation.text) * budget_tokens // max(1, tokens))
            messages[-1] = ChatMessage("user", situation.text[-keep:])
            tokens, truncated = count_tokens(messages[-1].content), True
        dropped = len(context.get("examples") or []) - len(examples)
        return Perception(messages, tokens, dropped, truncated)


class AcademyActionExecutor:
    def __init__(self, submit: Submit) -> None:
        self.submit = submit

    async def act(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        await self.submit(persona, situation, generation)
