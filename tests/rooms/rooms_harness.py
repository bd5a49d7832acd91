"""A whole node for room tests: gateway, scheduler, persona-runtime,
genome-registry and academy processes on their own NATS and database, the built-in model
at its tiny preset."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client

from continuum.natsauth import NodeLogins
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.testing.processes import spawn_service, stop_service, wait_service_ready


@dataclass
class RoomNode:
    url: str
    admin_token: str
    nats_url: str
    database_url: str
    root: Path
    model_dir: Path
    #: The node's NATS logins: each service connects as itself, as on a real node.
    logins: NodeLogins
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    env: dict[str, dict[str, str]] = field(default_factory=dict)

    async def connect(self, name: str, identity: str = "cli") -> Client:
        return await connect_nats(self.nats_url, name=name, login=self.logins.login(identity))

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
            login=self.logins.login(service),
        )
        self.processes[service] = process
        return process

    def stop(self, service: str) -> None:
        stop_service(self.processes[service])

    async def restart(self, service: str, module: str) -> None:
        """Start ``service`` again with the environment it had, and wait until it is ready."""
        self.start(service, module, self.env[service])
        nc = await self.connect("test-restart")
        try:
            await wait_service_ready(nc, service, self.processes[service], self.log(service), 90)
        finally:
            await nc.close()


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


async def wait_for(predicate: Any, timeout: float = 60, every: float = 0.1) -> Any:
    """Poll an async predicate until it returns something truthy."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(every)


async def post(api: httpx.AsyncClient, room: str, text: str, author: str = "Ada") -> str:
    response = await api.post(f"/v1/rooms/{room}/messages", json={"text": text, "author": author})
    assert response.status_code == 201, response.text
    return str(response.json()["message_id"])


async def replies(api: httpx.AsyncClient, room: str, message_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/rooms/{room}/messages", params={"limit": 500})
    return [m for m in response.json()["messages"] if m["reply_to"] == message_id]


async def make_room(api: httpx.AsyncClient, room: str, members: list[str], **policy: Any) -> None:
    response = await api.post("/v1/rooms", json={"id": room, "topic": "tests", "policy": policy})
    assert response.status_code == 201, response.text
    for member in members:
        joined = await api.post(
            f"/v1/rooms/{room}/members", json={"member_id": member, "kind": "persona"}
        )
        assert joined.status_code == 200, joined.text


async def make_remote_persona(
    api: httpx.AsyncClient, name: str, url: str, priority: int = 128
) -> str:
    """A persona served by an OpenAI-compatible server (an in-test WireServer)."""
    body = {
        "name": name,
        "role": "storyteller for tests",
        "domains": ["long stories"],
        "priority": priority,
        "backend": {"kind": "openai", "url": url, "model": name.lower()},
        "rooms": [],
    }
    response = await api.post("/v1/personas", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def events_of(items: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    """The data of streamed CloudEvents whose type has this event name."""
    return [
        i["event"]["data"]
        for i in items
        if i.get("kind") == "event" and i["event"]["type"].split(".")[-2] == name
    ]


def cli(node: RoomNode, home: Path, *args: str, timeout: float = 120, ok: bool = True) -> str:
    """Run ``continuum ARGS`` against the node's gateway; its stdout (asserts exit 0)."""
    env = {
        **os.environ,
        "CONTINUUM_GATEWAY_URL": node.url,
        "CONTINUUM_TOKEN": node.admin_token,
        "CONTINUUM_HOME": str(home),
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [str(Path(sys.executable).parent / "continuum"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if ok:
        assert done.returncode == 0, f"continuum {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout
    return done.stdout + done.stderr
