"""Installing persona profiles: every name checked first, installing again harmless."""

from __future__ import annotations

import pytest

from continuum import roster
from continuum.contracts.commands import InstallPersonas
from continuum.events.persona import PersonaCreated, PersonaRetired
from continuum.runtime import RequestError
from continuum_persona import install
from continuum_persona.personas import PersonaRegistry, persona_id_for


def registry_with(*installed: str, retired: tuple[str, ...] = ()) -> PersonaRegistry:
    registry = PersonaRegistry()
    for pid in (*installed, *retired):
        profile = roster.profile(pid)
        registry.apply(pid, PersonaCreated(profile=profile, public_key="k" * 52))
    for pid in retired:
        registry.apply(pid, PersonaRetired(retired_by="test"))
    return registry


def test_the_catalog_holds_ten_distinct_roles_none_of_them_seeded() -> None:
    ids = roster.installable_ids()
    assert len(ids) == len(set(ids)) == 10
    assert "security-ai" in ids
    assert not set(ids) & {persona_id_for(p.name) for p in roster.SEEDS}


def test_one_by_short_name_then_all_leaves_the_installed_one_as_it_is() -> None:
    one = install.plan(InstallPersonas(profiles=["security"], rooms=["team"]), registry_with())
    assert [c.name for c in one.create] == ["Security AI"] and one.create[0].rooms == ["team"]
    everything = install.plan(InstallPersonas(all=True), registry_with("security-ai"))
    assert len(everything.create) == 9 and everything.present == ["security-ai"]


@pytest.mark.parametrize(
    ("request_", "code", "says"),
    [
        (InstallPersonas(profiles=["qa-ai", "secruity"]), 404, "did you mean 'security-ai'"),
        (InstallPersonas(), 422, "name the profiles"),
        (InstallPersonas(profiles=["qa-ai"], all=True), 422, "not both"),
        (InstallPersonas(profiles=["devops-ai"]), 409, "retired"),
    ],
)
def test_bad_requests_are_refused_before_anything_is_created(
    request_: InstallPersonas, code: int, says: str
) -> None:
    with pytest.raises(RequestError) as refused:
        install.plan(request_, registry_with(retired=("devops-ai",)))
    assert refused.value.code == code and says in str(refused.value)


def test_all_passes_over_a_retired_profile_and_says_so() -> None:
    plan = install.plan(InstallPersonas(all=True), registry_with(retired=("devops-ai",)))
    assert plan.retired == ["devops-ai"] and len(plan.create) == 9
    statuses = {row["id"]: row["status"] for row in install.catalog(registry_with("qa-ai"))}
    assert statuses["qa-ai"] == "installed" and statuses["ux-designer-ai"] == "available"
