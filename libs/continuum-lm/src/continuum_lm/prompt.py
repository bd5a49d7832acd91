"""Turning chat messages into a model's prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from continuum_lm.generation import ChatMessage, GenerationRequest


def render_prompt(tokenizer: Any, request: GenerationRequest) -> str:
    """The tokenizer's chat template when it has one (instruction-tuned
    models), else a plain transcript ending with the speaker's name (the
    built-in model was pre-trained on transcripts of exactly this shape)."""
    messages = [{"role": m.role, "content": m.content} for m in request.messages]
    if getattr(tokenizer, "chat_template", None):
        rendered: str = tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        return rendered + request.continuation
    lines = []
    for message in request.messages:
        if message.role == "system":
            lines.append(message.content)
        elif message.role == "assistant":
            lines.append(f"{request.speaker}: {message.content}")
        else:
            text = message.content
            lines.append(text if ": " in text[:80] else f"User: {text}")
    lines.append(f"{request.speaker}:")
    return "\n".join(lines) + request.continuation


def reply_text(tokenizer: Any, text: str) -> str:
    """What a model must write after ``render_prompt``'s prompt for ``text`` to be its turn.

    In a plain transcript the speaker's name is followed by a space, then the
    turn, then the end of the line; training a layer on the turn without the
    space would fight what pre-training taught the model about that format.
    A chat template's generation prompt already ends where the turn starts.
    """
    if getattr(tokenizer, "chat_template", None):
        return f"{text}\n"
    return f" {text}\n"


def exercise_messages(
    prompt: str, rubric: str = "", examples: Sequence[Sequence[str]] = ()
) -> list[ChatMessage]:
    """An academy exercise as a conversation: the rubric as the system
    message, worked examples as earlier turns, the exercise last. A persona
    answering in a session and the academy's lab training or evaluating a
    layer both build exactly this, so a layer learns the prompt it will see."""
    messages = [ChatMessage("system", rubric or "Answer the exercise.")]
    for question, answer in examples:
        messages.append(ChatMessage("user", question))
        messages.append(ChatMessage("assistant", answer))
    messages.append(ChatMessage("user", prompt))
    return messages
