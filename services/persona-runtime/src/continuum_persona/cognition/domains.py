"""What a domain plugs into the pipeline: a RAG builder and an action executor.

A domain (chat now; code, academy and game later) is two small classes
registered under its name. The pipeline never changes for a new domain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from continuum.chat import RoomState
from continuum.events.persona import ActiveLayer
from continuum_lm.generation import ChatMessage
from continuum_persona.personas import Persona


@dataclass(frozen=True)
class Situation:
    """What a persona is asked to respond to, in some domain."""

    domain: str
    text: str
    author_id: str
    author_name: str
    message_id: str
    room: RoomState | None = None
    mentioned: bool = False
    #: What the domain needs besides the text (academy: the exercise's rubric and examples).
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Perception:
    """A prompt that fits the model's context window, and what had to go."""

    messages: list[ChatMessage]
    tokens: int
    dropped_messages: int = 0
    truncated: bool = False


@dataclass
class Generation:
    text: str
    status: str  # complete | interrupted | failed
    tokens: int
    backend: str
    first_token_ms: float | None
    duration_ms: float
    error: str | None = None
    turn_id: str | None = None
    message_id: str | None = None
    #: The layers that were active (empty when the backend applies no genome).
    genome: list[ActiveLayer] = field(default_factory=list)
    genome_load_ms: float | None = None


class RagBuilder(Protocol):
    def build(
        self,
        persona: Persona,
        situation: Situation,
        budget_tokens: int,
        count_tokens: Callable[[str], int],
    ) -> Perception: ...


class ActionExecutor(Protocol):
    async def act(self, persona: Persona, situation: Situation, generation: Generation) -> None: ...


@dataclass
class DomainRegistry:
    """The two factories: domain name -> how to build a RAG builder / an executor."""

    rag_builders: dict[str, Callable[[], RagBuilder]] = field(default_factory=dict)
    executors: dict[str, Callable[[], ActionExecutor]] = field(default_factory=dict)

    def register(
        self,
        domain: str,
        rag_builder: Callable[[], RagBuilder],
        executor: Callable[[], ActionExecutor],
    ) -> None:
        self.rag_builders[domain] = rag_builder
        self.executors[domain] = executor

    def rag_builder(self, domain: str) -> RagBuilder:
        try:
            return self.rag_builders[domain]()
        except KeyError:
            raise KeyError(f"no RAG builder for domain {domain!r}") from None

    def executor(self, domain: str) -> ActionExecutor:
        try:
            return self.executors[domain]()
        except KeyError:
            raise KeyError(f"no action executor for domain {domain!r}") from None


ActFn = Callable[[Persona, Situation, Generation], Awaitable[None]]
