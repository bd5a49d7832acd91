from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rooms_harness import PERSONA_ENV, RoomNode

from continuum.api_tokens import generate_token
from continuum.natsauth import NODE, NodeLogins, authorization_block
from continuum.natsauth.audit import violations
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.ports import free_port
from continuum.store import Topology
from continuum.testing.processes import stop_service, wait_service_ready


@pytest.fixture(scope="module")
def persona_env() -> dict[str, str]:
    """Extra environment for persona-runtime; a module overrides it to change backends."""
    return {}


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    """Extra environment for every service; a module overrides it (e.g. telemetry)."""
    return {}


@pytest.fixture(scope="module")
def registry_env() -> dict[str, str]:
    """Extra environment for genome-registry; a module overrides it (e.g. limits)."""
    return {}


@pytest.fixture(scope="module")
def academy_env() -> dict[str, str]:
    """Extra environment for the academy; a module overrides it."""
    return {}


@pytest.fixture(scope="module")
async def room_node(
    postgres_server: PostgresServer,
    tiny_model: Path,
    persona_env: dict[str, str],
    service_env: dict[str, str],
    registry_env: dict[str, str],
    academy_env: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RoomNode]:
    root = tmp_path_factory.mktemp("room-node")
    logins = NodeLogins.of_home(root / "home")
    nats = NatsServer(
        root / "nats",
        port=free_port(),
        server_name="rooms",
        authorization=authorization_block(),
        environment=logins.server_env(),
    )
    nats.start()
    database = f"t_{uuid.uuid4().hex[:16]}"
    try:
        database_url = postgres_server.create_database(database)
    except BaseException:  # the node never started: its NATS server must not outlive it
        nats.stop()
        raise
    port = free_port()
    node = RoomNode(
        f"http://127.0.0.1:{port}",
        generate_token(),
        nats.url,
        database_url,
        root,
        tiny_model,
        logins,
    )
    nc = await node.connect("test-bootstrap", NODE)
    await Topology(256 * 1024).bootstrap(nc.jetstream())
    try:
        node.start(
            "gateway",
            "continuum_gateway",
            {
                "CONTINUUM_MESH_NATS_PASSWORD": logins.login("mesh").password,
                "CONTINUUM_GATEWAY_PORT": str(port),
                "CONTINUUM_GATEWAY_ADMIN_TOKEN": node.admin_token,
                "CONTINUUM_GATEWAY_RATE_LIMIT": "1000",
                **service_env,
            },
        )
        node.start("scheduler", "continuum_scheduler", dict(service_env))
        node.start(
            "persona-runtime",
            "continuum_persona",
            {
                **PERSONA_ENV,
                "CONTINUUM_PERSONA_MODEL_PATH": str(tiny_model),
                **service_env,
                **persona_env,
            },
        )
        node.start("genome-registry", "continuum_genome_registry", {**service_env, **registry_env})
        node.start(
            "academy",
            "continuum_academy",
            {
                "CONTINUUM_PERSONA_MODEL_PATH": str(tiny_model),
                "CONTINUUM_ACADEMY_THREADS": "1",
                **service_env,
                **academy_env,
            },
        )
        for name in ("gateway", "scheduler", "persona-runtime", "genome-registry", "academy"):
            await wait_service_ready(nc, name, node.processes[name], node.log(name), timeout=90)
        yield node
    finally:
        await nc.close()
        for process in node.processes.values():
            stop_service(process)
        nats.stop()
        postgres_server.drop_database(database)
    # Every service ran with only its own permissions: none may have needed more.
    assert violations(nats.log_path) == []
