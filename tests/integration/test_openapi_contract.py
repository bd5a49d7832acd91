"""The gateway keeps its published contract, checked by tools nobody here
wrote: openapi-spec-validator on /openapi.json, and schemathesis (every
check, as `st run --checks all` does) fuzzing every operation of a real
node. The rules no schema can state are named, with their reasons, in
schemathesis.toml at the repository root."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from node_cli import cli
from openapi_spec_validator import validate

from continuum.node.ports import free_port
from continuum.testing.processes import clean_environment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def contract_node(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> Iterator[dict[str, str]]:
    """One whole node for every generated case (starting one per case would
    take hours); cases are independent of each other's leftovers."""
    home = tmp_path_factory.mktemp("contract") / "home"
    env = clean_environment()
    port = free_port()
    env.update(
        {
            "CONTINUUM_HOME": str(home),
            "CONTINUUM_NATS_PORT": str(free_port()),
            "CONTINUUM_POSTGRES_PORT": str(free_port()),
            "CONTINUUM_GATEWAY_PORT": str(port),
            "CONTINUUM_GATEWAY_RATE_LIMIT": "0",
            "CONTINUUM_PERSONA_MODEL_PATH": str(tiny_model),
            "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
        }
    )
    up = cli(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    env["URL"] = f"http://127.0.0.1:{port}"
    env["TOKEN"] = (home / "admin.token").read_text().strip()
    yield env
    cli(env, "down")


@pytest.fixture(scope="module")
def auth(contract_node: dict[str, str]) -> dict[str, str]:
    return {"Authorization": f"Bearer {contract_node['TOKEN']}"}


@pytest.fixture(scope="module")
def gateway_schema(contract_node: dict[str, str], auth: dict[str, str]) -> object:
    return schemathesis.openapi.from_url(f"{contract_node['URL']}/openapi.json", headers=auth)


def test_the_openapi_document_validates(
    contract_node: dict[str, str], auth: dict[str, str]
) -> None:
    document = httpx.get(f"{contract_node['URL']}/openapi.json", headers=auth, timeout=30).json()
    validate(document)  # raises, naming the first problem
    assert document["openapi"].startswith("3.1")
    events = document["paths"]["/v1/events"]["post"]
    assert {"200", "207", "400", "401", "413", "415", "422", "503"} <= set(events["responses"])
    assert {p["name"] for p in events["parameters"]} >= {"ce-id", "ce-type", "ce-source"}


contract = schemathesis.pytest.from_fixture("gateway_schema")


@contract.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_keeps_its_contract(
    case: schemathesis.Case, contract_node: dict[str, str], auth: dict[str, str]
) -> None:
    case.call_and_validate(base_url=contract_node["URL"], headers=auth)
