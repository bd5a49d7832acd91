"""A whole node for room tests: gateway, scheduler and persona-runtime processes
on their own NATS and database, the built-in model at its tiny preset."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from continuum.node.ports import free_port
from continuum.testing.processes import spawn_service, stop_service


@dataclass
class RoomNode:
    url: str
    admin_token: str
    nats_url: str
    database_url: str
    root: Path
    model_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)

    def log(self, service: str) -> Path:
        return self.root / f"{service}.log"

    def start(self, service: str, module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.env[service] = env
        process = spawn_service(
            module,
            nats_url=self.nats_url,
            database_url=self.database_url,
            home=self.root / "home",
            log_path=self.log(service),
            env=env,
        )
        self.processes[service] = process
        return process

    def stop(self, service: str) -> None:
        stop_service(self.processes[service])


PERSONA_ENV = {
    "CONTINUUM_PERSONA_MAX_NEW_TOKENS": "48",
    "CONTINUUM_PERSONA_HEARTBEAT_S": "0.3",
    "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",  # nothing there: the built-in model
    "CONTINUUM_PERSONA_TORCH_THREADS": "1",
}


async def sse_events(
    client: httpx.AsyncClient, path: str, until: Any, timeout: float = 60
) -> list[dict[str, Any]]:
    """Read SSE ``data:`` items from ``path`` until ``until(items)`` is true."""
    items: list[dict[str, Any]] = []

    async def read() -> None:
        async with client.stream("GET", path) as response:
            assert response.status_code == 200, await response.aread()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    items.append(json.loads(line[6:]))
                    if until(items):
                        return

    await asyncio.wait_for(read(), timeout)
    return items


@asynccontextmanager
async def following(client: httpx.AsyncClient, path: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect a room's SSE stream in the background while the block runs."""
    items: list[dict[str, Any]] = []
    ready = asyncio.Event()

    async def read() -> None:
        async with client.stream("GET", path) as response:
            ready.set()
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    items.append(json.loads(line[6:]))

    task = asyncio.create_task(read())
    await asyncio.wait_for(ready.wait(), 10)
    try:
        yield items
    finally:
        task.cancel()
