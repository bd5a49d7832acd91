"""The chat domain: context from the room, answers posted to the room."""

from __future__ import annotations

from collections.abc import Callable

from continuum.chat import HistoryItem
from continuum_lm.generation import ChatMessage
from continuum_persona.cognition.domains import ActFn, Generation, Perception, Situation
from continuum_persona.personas import Persona

#: Room messages considered at most (the budget usually keeps fewer).
HISTORY_WINDOW = 40
MEMORY_ITEMS = 5


def system_prompt(persona: Persona, situation: Situation) -> str:
    profile = persona.profile
    parts = [f"You are {profile.name}, {profile.role}."]
    parts.append("You are good at: " + ", ".join(profile.domains) + ".")
    if profile.style:
        parts.append(f"Style: {profile.style}.")
    if situation.room is not None and situation.room.topic:
        parts.append(f"Room topic: {situation.room.topic}.")
    if persona.memory:
        parts.append("You remember: " + "; ".join(persona.memory[-MEMORY_ITEMS:]) + ".")
    return " ".join(parts)


class ChatRagBuilder:
    """System prompt (profile, topic, memory) + as much recent history as fits.

    The newest messages are kept first; the message being answered is always
    kept, cut from its start if it alone is too long: a prompt never
    overflows the model, whatever a user pastes.
    """

    def build(
        self,
        persona: Persona,
        situation: Situation,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> Perception:
        system = system_prompt(persona, situation)
        system_tokens = count_tokens(system)
        if system_tokens > budget_tokens // 2:
            system = system[: max(16, len(system) * (budget_tokens // 2) // system_tokens)]
            system_tokens = count_tokens(system)
        remaining = budget_tokens - system_tokens
        history = list(situation.room.history)[-HISTORY_WINDOW:] if situation.room else []
        if not any(item.message_id == situation.message_id for item in history):
            history.append(
                HistoryItem(
                    situation.message_id,
                    situation.author_id,
                    "human",
                    situation.author_name,
                    situation.text,
                    "complete",
                    None,
                )
            )
        kept: list[ChatMessage] = []
        dropped = 0
        truncated = False
        for item in reversed(history):
            is_current = item.message_id == situation.message_id
            if item.author_id == persona.persona_id:
                message = ChatMessage("assistant", item.text)
            else:
                message = ChatMessage("user", f"{item.author_name}: {item.text}")
            cost = count_tokens(message.content) + 4
            if cost > remaining:
                if is_current and remaining > 8:
                    keep = max(1, len(message.content) * (remaining - 8) // cost)
                    message = ChatMessage(message.role, message.content[-keep:])
                    while (
                        count_tokens(message.content) + 4 > remaining and len(message.content) > 1
                    ):
                        message = ChatMessage(
                            message.role, message.content[len(message.content) // 8 + 1 :]
                        )
                    truncated = True
                    cost = count_tokens(message.content) + 4
                else:
                    dropped += 1
                    continue
            kept.append(message)
            remaining -= cost
        kept.reverse()
        messages = [ChatMessage("system", system), *kept]
        return Perception(messages, budget_tokens - remaining, dropped, truncated)


class ChatActionExecutor:
    """Posts the generation to the room, through the runtime's poster."""

    def __init__(self, post: ActFn) -> None:
        self._post = post

    async def act(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        await self._post(persona, situation, generation)
