"""Installing persona profiles from the catalog: which to create, which are
there already. Pure: the service appends the events.

Every name is checked before anything is created, so a typo in the third
name of three installs none (never half an install). Installing again is
harmless: what is there is left as it is and reported as present. A retired
persona's id is never used again (its log stays), so naming one is refused,
and ``--all`` passes over it and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from continuum import roster
from continuum.contracts.commands import CreatePersona, InstallPersonas
from continuum.events.persona import Profile
from continuum.runtime import RequestError
from continuum_persona.personas import PersonaRegistry, persona_id_for


@dataclass
class InstallPlan:
    create: list[CreatePersona] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)


def chosen(request: InstallPersonas) -> list[Profile]:
    if request.all == bool(request.profiles):
        raise RequestError(
            "name the profiles to install, or ask for all of them (not both); "
            f"profiles: {', '.join(roster.installable_ids())}",
            422,
        )
    if request.all:
        return list(roster.INSTALLABLE)
    profiles: dict[str, Profile] = {}
    for key in request.profiles:
        try:
            found = roster.profile(key)
        except roster.UnknownProfile as exc:
            raise RequestError(str(exc), 404) from None
        profiles.setdefault(persona_id_for(found.name), found)
    return list(profiles.values())


def plan(request: InstallPersonas, registry: PersonaRegistry) -> InstallPlan:
    result = InstallPlan()
    for found in chosen(request):
        pid = persona_id_for(found.name)
        if pid in registry.personas:
            result.present.append(pid)
        elif pid in registry.retired:
            if not request.all:
                raise RequestError(
                    f"persona {pid!r} was retired on this node and its id is not used again; "
                    "create a persona under another name with `continuum persona create`",
                    409,
                )
            result.retired.append(pid)
        else:
            result.create.append(
                CreatePersona(
                    name=found.name,
                    role=found.role,
                    domains=found.domains,
                    style=found.style,
                    priority=found.priority,
                    rooms=request.rooms,
                )
            )
    return result


def catalog(registry: PersonaRegistry) -> list[dict[str, object]]:
    """The installable profiles, each with whether this node has it."""
    rows: list[dict[str, object]] = []
    for found in roster.INSTALLABLE:
        pid = persona_id_for(found.name)
        status = (
            "installed"
            if pid in registry.personas
            else "retired"
            if pid in registry.retired
            else "available"
        )
        rows.append(
            {
                "id": pid,
                "name": found.name,
                "role": found.role,
                "domains": found.domains,
                "status": status,
            }
        )
    return rows
