"""One pipeline for every domain: perceive -> decide -> coordinate -> generate -> act -> learn."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from continuum.events.chat import Bid
from continuum.genome import LayerError
from continuum_lm.generation import BackendError, GenerationRequest, InferenceBackend
from continuum_lm.resolve import Genome
from continuum_persona import metrics
from continuum_persona.cognition.decide import Confidence, Decider
from continuum_persona.cognition.domains import DomainRegistry, Generation, Perception, Situation
from continuum_persona.personas import Persona

#: Called with each piece of generated text.
OnDelta = Callable[[str], Awaitable[None]]
Bidder = Callable[[Persona, Situation, Bid], Awaitable[str]]
Learner = Callable[[Persona, Situation, Generation], Awaitable[None]]


class CognitionPipeline:
    def __init__(
        self,
        domains: DomainRegistry,
        decider: Decider,
        backend_for: Callable[[Persona], InferenceBackend],
        genome_for: Callable[[Persona], Genome],
        bidder: Bidder,
        learner: Learner,
        *,
        max_tokens: int = 160,
        temperature: float = 0.8,
    ) -> None:
        self.domains = domains
        self.decider = decider
        self.backend_for = backend_for
        self.genome_for = genome_for
        self.bidder = bidder
        self.learner = learner
        self.max_tokens = max_tokens
        self.temperature = temperature

    def perceive(self, persona: Persona, situation: Situation) -> Perception:
        backend = self.backend_for(persona)
        answer = int(situation.context.get("max_tokens") or self.max_tokens)
        budget = max(32, backend.context_tokens - answer - 16)
        return self.domains.rag_builder(situation.domain).build(
            persona, situation, budget, backend.count_tokens
        )

    def decide(self, persona: Persona, situation: Situation) -> Confidence:
        return self.decider.confidence(persona, situation.text, situation.mentioned)

    async def coordinate(
        self, persona: Persona, situation: Situation, confidence: Confidence
    ) -> str:
        bid = Bid(
            persona_id=persona.persona_id,
            name=persona.name,
            priority=persona.profile.priority,
            confidence=confidence.value,
            expected_latency_ms=persona.expected_latency_ms,
            expected_cost=persona.backend.cost_per_1k_tokens * self.max_tokens / 1000,
            mentioned=situation.mentioned,
            rationale=confidence.rationale[:500],
        )
        return await self.bidder(persona, situation, bid)

    async def consider(self, persona: Persona, situation: Situation) -> str:
        """The first half, run by every persona for every message: up to the bid."""
        self.perceive(persona, situation)  # checks the context can be built at all
        return await self.coordinate(persona, situation, self.decide(persona, situation))

    async def generate(
        self,
        persona: Persona,
        perception: Perception,
        cancel: asyncio.Event,
        on_delta: OnDelta,
        max_tokens: int | None = None,
        temperature: float | None = None,
        continuation: str = "",
    ) -> Generation:
        backend = self.backend_for(persona)
        pieces: list[str] = []
        started = time.perf_counter()
        first: float | None = None
        status, error = "complete", None
        request: GenerationRequest | None = None
        try:
            try:
                genome = self.genome_for(persona)
            except LayerError as exc:
                raise BackendError(f"genome: {exc}") from None
            request = GenerationRequest(
                messages=perception.messages,
                max_tokens=max_tokens or self.max_tokens,
                temperature=self.temperature if temperature is None else temperature,
                model=persona.backend.model,
                speaker=persona.name,
                genome=genome,
                continuation=continuation,
            )
            async for raw in backend.stream(request, cancel):
                # A model may write any byte; text cannot hold NUL (PostgreSQL, JSON
                # consumers, the API's schema), so it never leaves the backend.
                piece = raw.replace("\x00", "")
                if not piece:
                    continue
                if first is None:
                    first = (time.perf_counter() - started) * 1000
                pieces.append(piece)
                await on_delta(piece)
                if cancel.is_set():
                    break
        except BackendError as exc:
            status, error = "failed", str(exc)[:500]
        if status == "complete" and cancel.is_set():
            status = "interrupted"
        text = "".join(pieces).strip()
        load_ms = request.stats.get("genome_load_ms") if request is not None else None
        applied = request is not None and "genome_applied" in request.stats
        metrics.generations.add(1, {"backend": backend.name, "status": status})
        if first is not None:
            metrics.first_token.record(first / 1000, {"backend": backend.name})
        return Generation(
            text=text,
            status=status,
            tokens=backend.count_tokens(text) if text else 0,
            backend=backend.name,
            first_token_ms=first,
            duration_ms=(time.perf_counter() - started) * 1000,
            error=error,
            genome=request.genome.active() if applied and request and request.genome else [],
            genome_load_ms=load_ms,
        )

    async def respond(
        self,
        persona: Persona,
        situation: Situation,
        cancel: asyncio.Event,
        on_delta: OnDelta,
        prepare: Callable[[Generation], None] | None = None,
    ) -> Generation:
        """The second half, for a persona granted the turn: generate -> act -> learn."""
        perception = self.perceive(persona, situation)
        # A domain may need a longer answer than chat (a diff): it says so in its context.
        max_tokens = situation.context.get("max_tokens")
        generation = await self.generate(
            persona, perception, cancel, on_delta, max_tokens=max_tokens
        )
        if prepare is not None:
            prepare(generation)
        await self.domains.executor(situation.domain).act(persona, situation, generation)
        await self.learner(persona, situation, generation)
        return generation
