"""The game domain: a position as context, a move as the action.

GameRagBuilder shows the persona the position (``continuum.games.prompt``:
board, legal moves, the moves so far, why its last try was refused) as an
exercise, the way the academy's game skill trains it. The move is chosen
among the legal ones by the model's likelihood where the backend can score
options (the built-in model, any local transformers model), so even a
small model always plays a legal move; a remote backend (Ollama, an
OpenAI-compatible server) writes its move, which is parsed, and a refusal
is shown to it on its next try (``continuum_persona.games`` plays the
turn). Once the academy's referee has accepted a move, the executor
(``GameActionExecutor``) shows it in the game's room as the persona's
message.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from continuum.games import Position
from continuum.games.prompt import exercise, rubric
from continuum_lm.generation import ChatMessage
from continuum_lm.prompt import exercise_messages
from continuum_persona.cognition.domains import Generation, Perception, Situation
from continuum_persona.personas import Persona

Post = Callable[[Persona, Situation, Generation], Awaitable[None]]


def position_of(situation: Situation) -> Position:
    position = situation.context["position"]
    assert isinstance(position, Position)
    return position


class GameRagBuilder:
    def build(
        self,
        persona: Persona,
        situation: Situation,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> Perception:
        position = position_of(situation)
        context: dict[str, Any] = situation.context
        messages = exercise_messages(
            exercise(position, str(context.get("refused", ""))), rubric(position)
        )
        tokens = sum(count_tokens(m.content) for m in messages)
        truncated = False
        if tokens > budget_tokens:  # the history line goes first; the board always stays
            text = exercise(position, str(context.get("refused", "")), history=False)
            messages = [messages[0], ChatMessage("user", text)]
            tokens, truncated = sum(count_tokens(m.content) for m in messages), True
        return Perception(messages, tokens, 0, truncated)


class GameActionExecutor:
    def __init__(self, post: Post) -> None:
        self._post = post

    async def act(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        await self._post(persona, situation, generation)
