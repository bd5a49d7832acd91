"""The interface every inference backend implements."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from continuum_lm.resolve import Genome


class BackendError(Exception):
    """The backend failed, timed out or went away; the message says which."""


@dataclass(frozen=True)
class ChatMessage:
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    messages: list[ChatMessage]
    max_tokens: int = 160
    temperature: float = 0.8
    #: The model on the backend (an Ollama tag, an OpenAI model or LoRA name).
    model: str = ""
    #: Name the answer is spoken as (a prompt-completion model needs it).
    speaker: str = "Assistant"
    #: The persona's resolved genome (applied by local backends; None = no layers).
    genome: Genome | None = None
    #: What the backend reports back (e.g. ``genome_load_ms`` when it applied a genome).
    stats: dict[str, float] = field(default_factory=dict)
    #: The start of the answer, already given (by a node that failed mid-way):
    #: the model continues it rather than starting over.
    continuation: str = ""

    def wire_messages(self) -> list[dict[str, str]]:
        """The messages as chat APIs (Ollama, OpenAI) take them; a
        continuation is a last, partial assistant message (Ollama and vLLM
        continue such a message)."""
        messages = [{"role": m.role, "content": m.content} for m in self.messages]
        if self.continuation:
            messages.append({"role": "assistant", "content": self.continuation})
        return messages


class InferenceBackend(Protocol):
    #: Short name for events and metrics ("builtin", "ollama", "openai", ...).
    name: str

    def count_tokens(self, text: str) -> int:
        """An estimate good enough to fit a prompt into the context window."""
        ...

    @property
    def context_tokens(self) -> int: ...

    def stream(self, request: GenerationRequest, cancel: asyncio.Event) -> AsyncIterator[str]:
        """Yield text pieces as they are generated; stop soon after ``cancel`` is set.

        Raises BackendError when the backend fails, times out or dies mid-stream.
        """
        ...

    async def close(self) -> None: ...
