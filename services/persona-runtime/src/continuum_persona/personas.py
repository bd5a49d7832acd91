"""Personas as this runtime knows them: folded from the persona context."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel

from continuum.events.persona import (
    BackendRef,
    GenomeLayerRef,
    MemoryAdded,
    OutcomeRecorded,
    PersonaCreated,
    PersonaRetired,
    PersonaUpdated,
    Profile,
)
from continuum.roster import SEEDS, persona_id_for

__all__ = ["SEEDS", "Persona", "PersonaRegistry", "persona_id_for"]

RECENT_OUTCOMES = 20


@dataclass
class Persona:
    persona_id: str
    profile: Profile
    public_key: str
    base_model: str
    backend: BackendRef
    genome: list[GenomeLayerRef]
    combination: str = "cat"
    memory: list[str] = field(default_factory=list)
    outcomes: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT_OUTCOMES))
    first_token_ms: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_OUTCOMES))

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def success_rate(self) -> float:
        """Share of recent turns that completed (0.5 before any)."""
        if not self.outcomes:
            return 0.5
        return sum(1 for o in self.outcomes if o == "complete") / len(self.outcomes)

    @property
    def expected_latency_ms(self) -> float:
        if not self.first_token_ms:
            return 1000.0
        ordered = sorted(self.first_token_ms)
        return ordered[len(ordered) // 2]

    def domain_text(self) -> str:
        return f"{self.profile.role}. " + ", ".join(self.profile.domains)


class PersonaRegistry:
    def __init__(self) -> None:
        self.personas: dict[str, Persona] = {}
        #: Retired persona ids: gone from the roster, never seeded or created again.
        self.retired: set[str] = set()

    def get(self, key: str) -> Persona | None:
        """By id, or by name (case-insensitive)."""
        if key in self.personas:
            return self.personas[key]
        wanted = key.strip().lower()
        for persona in self.personas.values():
            if persona.name.lower() == wanted or persona_id_for(persona.name) == wanted:
                return persona
        return None

    def apply(self, persona_id: str, payload: BaseModel) -> None:
        if isinstance(payload, PersonaCreated):
            self.personas.setdefault(
                persona_id,
                Persona(
                    persona_id,
                    payload.profile,
                    payload.public_key,
                    payload.base_model,
                    payload.backend,
                    list(payload.genome),
                    payload.combination,
                ),
            )
            return
        if isinstance(payload, PersonaRetired):
            self.personas.pop(persona_id, None)
            self.retired.add(persona_id)
            return
        persona = self.personas.get(persona_id)
        if persona is None:
            return
        if isinstance(payload, PersonaUpdated):
            if payload.profile is not None:
                persona.profile = payload.profile
            if payload.base_model is not None:
                persona.base_model = payload.base_model
            if payload.backend is not None:
                persona.backend = payload.backend
            if payload.genome is not None:
                persona.genome = list(payload.genome)
            if payload.combination is not None:
                persona.combination = payload.combination
        elif isinstance(payload, MemoryAdded):
            persona.memory.append(payload.text)
        elif isinstance(payload, OutcomeRecorded):
            persona.outcomes.append(payload.status)
            if payload.first_token_ms is not None:
                persona.first_token_ms.append(payload.first_token_ms)
