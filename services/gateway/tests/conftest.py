from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from nats.aio.client import Client

from continuum.node.embedded import NatsServer
from continuum.testing.processes import spawn_service, stop_service

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
async def gateway(
    nc: Client, nats_server: NatsServer, database_url: str, tmp_path: Path
) -> AsyncIterator[Spawn]:
    """Start the gateway as a real process; returns a function to (re)start it."""
    started: list[subprocess.Popen[bytes]] = []

    def spawn(**env: str) -> subprocess.Popen[bytes]:
        process = spawn_service(
            "continuum_gateway",
            nats_url=nats_server.url,
            database_url=database_url,
            home=tmp_path / "home",
            log_path=tmp_path / "gateway.log",
            env=env,
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        stop_service(process)
