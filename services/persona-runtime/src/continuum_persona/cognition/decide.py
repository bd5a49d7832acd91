"""The decide step: how sure a persona is that it should speak. No LLM call.

    confidence = 1.0                                   if @mentioned
               = 0.85 * relevance + 0.15 * success     otherwise
    relevance  = clamp((max(sim_domain, 0.8 * sim_memory) - 0.10) / 0.40, 0, 1)

``sim_domain`` is the best cosine similarity between the message and the
persona's role and domains, ``sim_memory`` the best against its recent
memories, both with all-MiniLM-L6-v2 embeddings (~5 ms per message, the
persona texts are cached); ``success`` is the share of its recent turns that
completed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from continuum.embeddings import Embedder
from continuum_persona.personas import Persona

MEMORY_CONSIDERED = 50


@dataclass(frozen=True)
class Confidence:
    value: float
    rationale: str


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, value))


class Decider:
    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def _best(self, message: np.ndarray, texts: list[str]) -> tuple[float, str]:
        if not texts:
            return 0.0, ""
        vectors = np.stack([self.embedder.cached(t) for t in texts])
        sims = vectors @ message
        i = int(np.argmax(sims))
        return float(sims[i]), texts[i]

    def texts_for(self, persona: Persona) -> list[str]:
        """What a decision compares the message with."""
        return [
            persona.profile.role,
            *persona.profile.domains,
            *persona.memory[-MEMORY_CONSIDERED:],
        ]

    def prepare(self, text: str, personas: list[Persona]) -> None:
        """Encode, in one batch, the message and whatever the personas' decisions
        need that is not cached yet (call before deciding for many personas)."""
        texts = [text]
        for persona in personas:
            texts.extend(self.texts_for(persona))
        self.embedder.warm(texts)

    def confidence(self, persona: Persona, text: str, mentioned: bool) -> Confidence:
        if mentioned:
            return Confidence(1.0, "mentioned")
        message = self.embedder.cached(text)  # one encode per message, however many personas
        sim_domain, domain = self._best(message, [persona.profile.role, *persona.profile.domains])
        sim_memory, _ = self._best(message, persona.memory[-MEMORY_CONSIDERED:])
        relevance = clamp((max(sim_domain, 0.8 * sim_memory) - 0.10) / 0.40)
        value = round(0.85 * relevance + 0.15 * persona.success_rate, 4)
        rationale = (
            f"similarity {sim_domain:.2f} to '{domain[:60]}', memory {sim_memory:.2f}, "
            f"success {persona.success_rate:.2f}"
        )
        return Confidence(value, rationale)
