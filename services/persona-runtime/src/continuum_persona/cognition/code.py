"""The code domain: a file and its surroundings as context, a proposal as the action.

A room message that names a file of a workspace registered for the room
(``continuum code workspace add PATH --room dev``) is a code request: the
persona granted the turn is shown CodeRAG's context (``continuum.code.
context``: the file, its imports and importers in the workspace, recent
commits touching it, the style configuration) and answers with a unified
diff. The executor hands the diff to the academy as a proposal (checked,
then tested in the sandbox) and shows the outcome in the room: the
proposal's id and diff, or why it was refused. Nothing reaches the
workspace until a human approves it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

from continuum.code.context import CODE_RUBRIC, CodeContext, render
from continuum_lm.generation import ChatMessage
from continuum_persona.cognition.domains import Generation, Perception, Situation
from continuum_persona.personas import Persona

Propose = Callable[[Persona, Situation, Generation], Awaitable[None]]
#: Room for a whole diff of a function and its test.
MAX_TOKENS = 1024
_FENCE = re.compile(r"```(?:diff|patch)?\n(.*?)```", re.S)


def code_of(situation: Situation) -> CodeContext:
    context = situation.context["code"]
    assert isinstance(context, CodeContext)
    return context


class CodeRagBuilder:
    def build(
        self,
        persona: Persona,
        situation: Situation,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> Perception:
        system = CODE_RUBRIC  # the words a layer trained on approved proposals learnt
        budget = max(64, budget_tokens - count_tokens(system))
        text, cut = render(code_of(situation), situation.text, budget, count_tokens)
        messages = [ChatMessage("system", system), ChatMessage("user", text)]
        tokens = sum(count_tokens(m.content) for m in messages)
        return Perception(messages, tokens, 0, cut)


def patch_in(text: str) -> str | None:
    """The unified diff in a model's answer: a fenced block, or from its first header."""
    fenced = _FENCE.search(text)
    if fenced and ("--- " in fenced.group(1) or "diff --git" in fenced.group(1)):
        return fenced.group(1)
    for marker in ("diff --git ", "--- "):
        start = text.find(marker)
        if start == 0 or (start > 0 and text[start - 1] == "\n"):
            return text[start:]
    return None


class CodeActionExecutor:
    def __init__(self, propose: Propose) -> None:
        self._propose = propose

    async def act(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        await self._propose(persona, situation, generation)


def situation_context(code: CodeContext, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "max_tokens": MAX_TOKENS, **(extra or {})}
