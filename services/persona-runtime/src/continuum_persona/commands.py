"""Persona commands (create, update): validation and the events they append."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.events.chat import MemberJoined
from continuum.events.envelope import describe_validation_error
from continuum.events.persona import (
    BackendRef,
    Combination,
    GenomeLayerRef,
    PersonaCreated,
    PersonaUpdated,
    Profile,
)
from continuum.runtime import RequestError


class CreatePersona(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=64)
    role: str = Field(min_length=1, max_length=200)
    domains: list[str] = Field(min_length=1, max_length=32)
    style: str = Field(default="", max_length=500)
    priority: int = Field(default=128, ge=0, le=255)
    base_model: str = Field(default="builtin", min_length=1, max_length=256)
    backend: BackendRef = Field(default_factory=BackendRef)
    genome: list[GenomeLayerRef] = Field(default_factory=list, max_length=64)
    combination: Combination = "cat"
    rooms: list[str] = Field(default_factory=lambda: ["lobby"], max_length=64)


class UpdatePersona(BaseModel):
    model_config = ConfigDict(extra="forbid")

    persona: str = Field(min_length=1, max_length=64)
    role: str | None = Field(default=None, min_length=1, max_length=200)
    domains: list[str] | None = Field(default=None, min_length=1, max_length=32)
    style: str | None = Field(default=None, max_length=500)
    priority: int | None = Field(default=None, ge=0, le=255)
    base_model: str | None = Field(default=None, min_length=1, max_length=256)
    backend: BackendRef | None = None
    genome: list[GenomeLayerRef] | None = Field(default=None, max_length=64)
    combination: Combination | None = None


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: dict[str, Any], what: str) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestError(f"invalid {what}: {describe_validation_error(exc)}", 422) from None


def created_event(command: CreatePersona, public_key: str, seeded: bool = False) -> PersonaCreated:
    profile = Profile(
        name=command.name,
        role=command.role,
        domains=command.domains,
        style=command.style,
        priority=command.priority,
    )
    return PersonaCreated(
        profile=profile,
        public_key=public_key,
        base_model=command.base_model,
        backend=command.backend,
        genome=command.genome,
        combination=command.combination,
        rooms=command.rooms,
        seeded=seeded,
    )


def updated_event(command: UpdatePersona, current: Profile) -> PersonaUpdated:
    changes = {
        k: v
        for k, v in (
            ("role", command.role),
            ("domains", command.domains),
            ("style", command.style),
            ("priority", command.priority),
        )
        if v is not None
    }
    profile = current.model_copy(update=changes) if changes else None
    if (
        profile is None
        and command.base_model is None
        and command.backend is None
        and command.genome is None
        and command.combination is None
    ):
        raise RequestError(
            "nothing to update: give role, domains, style, priority, base_model, backend, "
            "genome or combination"
        )
    return PersonaUpdated(
        profile=profile,
        base_model=command.base_model,
        backend=command.backend,
        genome=command.genome,
        combination=command.combination,
    )


def joined_event(persona_id: str, name: str) -> MemberJoined:
    return MemberJoined(member_id=persona_id, kind="persona", name=name)
