from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from gateway_harness import DEDUPE_WINDOW_S, RATE_LIMIT, GatewayNode
from nats.aio.client import Client

from continuum.api_tokens import generate_token
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.store import Topology
from continuum.testing.plugin import SpawnService
from continuum.testing.processes import spawn_service, stop_service, wait_service_ready

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def gateway(spawn_service: SpawnService) -> Spawn:
    """Start the gateway as a real process; call again to restart it."""
    return lambda **env: spawn_service("continuum_gateway", **env)


@pytest.fixture(scope="module")
async def gateway_node(
    postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[GatewayNode]:
    root = tmp_path_factory.mktemp("gateway-node")
    nats = NatsServer(root / "nats", port=free_port(), server_name="gw")
    nats.start()
    database = f"t_{uuid.uuid4().hex[:16]}"
    database_url = postgres_server.create_database(database)
    port = free_port()
    admin = generate_token()
    log = root / "gateway.log"

    nc = await connect_nats(nats.url, name="test-bootstrap")
    # A short dedupe window, so the tests can re-send ids past it.
    await Topology(64 * 1024, duplicate_window_s=DEDUPE_WINDOW_S).bootstrap(nc.jetstream())
    process = spawn_service(
        "continuum_gateway",
        nats_url=nats.url,
        database_url=database_url,
        home=root / "home",
        log_path=log,
        env={
            "CONTINUUM_GATEWAY_PORT": str(port),
            "CONTINUUM_GATEWAY_ADMIN_TOKEN": admin,
            "CONTINUUM_GATEWAY_RATE_LIMIT": str(RATE_LIMIT),
            "CONTINUUM_GATEWAY_RATE_BURST": str(2 * RATE_LIMIT),
            "CONTINUUM_GATEWAY_MAX_BODY_BYTES": str(256 * 1024),
            "CONTINUUM_GATEWAY_CORS_ORIGINS": "http://app.example, http://localhost:5173",
        },
    )

    try:
        await wait_service_ready(nc, "gateway", process, log)
        await nc.close()
        yield GatewayNode(f"http://127.0.0.1:{port}", admin, nats.url, log, database_url)
    finally:
        stop_service(process)
        nats.stop()
        postgres_server.drop_database(database)


@pytest.fixture
async def api(gateway_node: GatewayNode) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway_node.client() as client:
        yield client


@pytest.fixture
async def gw_nc(gateway_node: GatewayNode) -> AsyncIterator[Client]:
    client = await connect_nats(gateway_node.nats_url, name="test")
    yield client
    await client.close()
