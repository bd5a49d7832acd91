"""Pytest fixtures that start real servers from the wheels.

``nats_server``: a fresh nats-server with JetStream per test (it starts in
tens of milliseconds), streams bootstrapped. ``postgres_server``: one
PostgreSQL per session; ``database_url``: a fresh database per test. Nothing
is mocked.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client

from continuum.events import EventCodec, EventFactory
from continuum.identity import NodeIdentity
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.ports import free_port
from continuum.runtime.broker import create_broker
from continuum.runtime.connections import connect_nats, create_pool
from continuum.store import JetStreamEventStore, Topology
from continuum.testing.otlp import Receiver

MAX_EVENT_BYTES = 64 * 1024


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(
        tmp_path_factory.mktemp("postgres"), port=free_port(), database="postgres"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:16]}"
    yield postgres_server.create_database(name)
    postgres_server.drop_database(name)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path / "nats", port=free_port(), server_name="test")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await connect_nats(nats_server.url, name="test")
    await Topology(MAX_EVENT_BYTES).bootstrap(client.jetstream())
    yield client
    await client.close()


@pytest.fixture
async def broker(nats_server: NatsServer, nc: Client) -> AsyncIterator[NatsBroker]:
    """A service's FastStream broker on the test server (its topology declared)."""
    running = create_broker(nats_server.url, "test-service")
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, max_size=10)
    yield p
    await p.close()


@pytest.fixture
def identity() -> NodeIdentity:
    return NodeIdentity.generate()


@pytest.fixture
def codec() -> EventCodec:
    return EventCodec(MAX_EVENT_BYTES)


@pytest.fixture
def factory(identity: NodeIdentity) -> EventFactory:
    return EventFactory(identity, "/continuum/test")


@pytest.fixture
def store(nc: Client, codec: EventCodec) -> JetStreamEventStore:
    return JetStreamEventStore(nc, codec)


SpawnService = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn_service(
    nats_server: NatsServer, database_url: str, tmp_path: Path
) -> Iterator[SpawnService]:
    """Start services as real processes against this test's servers.

    ``spawn_service("continuum_gateway", OTEL_...="...")`` starts one (its log
    in ``tmp_path/<module>.log``); every process is stopped at teardown.
    """
    from continuum.testing.processes import spawn_service as spawn
    from continuum.testing.processes import stop_service

    started: list[subprocess.Popen[bytes]] = []

    def start(module: str, **env: str) -> subprocess.Popen[bytes]:
        # A service that serves HTTP (the gateway) must not take a fixed port
        # that a developer's own node (or a parallel test) may hold.
        env = {"CONTINUUM_GATEWAY_PORT": str(free_port()), **env}
        process = spawn(
            module,
            nats_url=nats_server.url,
            database_url=database_url,
            home=tmp_path / "home",
            log_path=tmp_path / f"{module}.log",
            env=env,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_service(process)


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, Receiver]]:
    """A running OTLP/HTTP receiver: (endpoint, what it received)."""
    from continuum.testing.otlp import otlp_receiver as receiver

    with receiver() as running:
        yield running
