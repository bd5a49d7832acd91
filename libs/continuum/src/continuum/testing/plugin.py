"""Pytest fixtures that start real servers from the wheels.

``nats_server``: a fresh nats-server with JetStream per test (it starts in
tens of milliseconds), streams bootstrapped. ``postgres_server``: one
PostgreSQL per session; ``database_url``: a fresh database per test. Nothing
is mocked.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from nats.aio.client import Client

from continuum.events import EventCodec, EventFactory
from continuum.identity import NodeIdentity
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats, create_pool
from continuum.store import JetStreamEventStore, Topology

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
    psql = [
        postgres_server._bin("psql"),
        "-h",
        postgres_server.host,
        "-p",
        str(postgres_server.port),
        "-U",
        "postgres",
        "-d",
        "postgres",
        "-qc",
    ]
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True, capture_output=True)
    yield f"postgresql://postgres@{postgres_server.host}:{postgres_server.port}/{name}"
    subprocess.run(
        [*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"], check=False, capture_output=True
    )


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
