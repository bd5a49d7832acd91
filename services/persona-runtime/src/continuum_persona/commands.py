"""Persona commands (create, update): validation, with the contracts' models,
and the events they append."""

from __future__ import annotations

from continuum.contracts.commands import CreatePersona, UpdatePersona
from continuum.events.chat import MemberJoined
from continuum.events.persona import PersonaCreated, PersonaUpdated, Profile
from continuum.runtime import RequestError
from continuum.runtime.commands import parse_request

__all__ = [
    "CreatePersona",
    "UpdatePersona",
    "created_event",
    "joined_event",
    "parse",
    "updated_event",
]


#: A command's body as its contract model, or a 422 naming the bad field.
parse = parse_request


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
