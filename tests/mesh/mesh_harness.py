"""Several real nodes on loopback, joined as a mesh: each its own nats-server
(JetStream domain = node id, MESH account, leaf links authenticated by node
keys), gateway and persona-runtime (a slim node: what routing needs)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import inspect
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from nats.aio.client import Client

from continuum.identity import NodeIdentity
from continuum.mesh.natsconf import SEED_VARIABLE, MeshLinks, leafnodes_block
from continuum.mesh.nkeys import user_seed
from continuum.natsauth import MESH, NodeLogins, authorization_block
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.runtime.requests import request_json
from continuum.store import Topology
from continuum.testing.processes import spawn_service, stop_service, wait_service_ready

#: Fast adverts and bans, so that discovery, expiry and healing fit a test.
MESH_ENV = {
    "CONTINUUM_MESH_ANNOUNCE_S": "0.5",
    "CONTINUUM_MESH_ADVERT_TTL_S": "3",
    "CONTINUUM_MESH_BAN_S": "1",
    # This mesh's own beacon port: other nodes on this host are not its LAN.
    "CONTINUUM_MESH_LAN_PORT": str(free_port()),
}
PERSONA_ENV = {
    "CONTINUUM_PERSONA_MAX_NEW_TOKENS": "48",
    "CONTINUUM_PERSONA_TORCH_THREADS": "1",
    "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",  # nothing there: the built-in model
}


@dataclass
class MeshNode:
    name: str
    root: Path
    identity: NodeIdentity
    logins: NodeLogins
    nats: NatsServer
    database_url: str
    model_dir: Path
    hub_port: int = 0
    hubs: tuple[str, ...] = ()
    http_port: int = field(default_factory=free_port)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def node_id(self) -> str:
        return self.identity.node_id

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def leaf_url(self) -> str:
        return f"nats-leaf://127.0.0.1:{self.hub_port}"

    @classmethod
    def create(
        cls,
        name: str,
        root: Path,
        database_url: str,
        model_dir: Path,
        *,
        hub: bool = False,
        hubs: tuple[str, ...] = (),
        admitted: tuple[str, ...] = (),
        identity: NodeIdentity | None = None,
    ) -> MeshNode:
        identity = identity or NodeIdentity.generate()
        logins = NodeLogins.of_home(root / "home")
        hub_port = free_port() if hub else 0
        links = MeshLinks(listen=f"127.0.0.1:{hub_port}" if hub else "", hubs=hubs)
        nats = NatsServer(
            root / "nats",
            port=free_port(),
            server_name=f"{name}-{identity.short_id}",
            domain=identity.node_id,
            authorization=authorization_block(admitted=admitted),
            environment={**logins.server_env(), SEED_VARIABLE: user_seed(identity.signing_key)},
            leafnodes=leafnodes_block(links),
            ping_interval="500ms",
        )
        return cls(name, root, identity, logins, nats, database_url, model_dir, hub_port, hubs)

    async def connect(self, identity: str = "cli") -> Client:
        return await connect_nats(
            self.nats.url, name=f"test-{self.name}", login=self.logins.login(identity)
        )

    async def connect_mesh(self) -> Client:
        """A client on this node's MESH account (what crosses the links)."""
        import nats

        login = self.logins.login(MESH)
        return await nats.connect(
            self.nats.url,
            user=login.user,
            password=login.password,
            inbox_prefix=f"mesh.inbox.test{os.getpid()}",
        )

    def log(self, service: str) -> Path:
        return self.root / f"{service}.log"

    async def start(self) -> None:
        self.nats.start()
        nc = await self.connect("node")
        try:
            await Topology(256 * 1024).bootstrap(nc.jetstream())
            common = {
                # The key as containers get it (a Secret), not a file in the home.
                "CONTINUUM_NODE_KEY": base64.b64encode(bytes(self.identity.signing_key)).decode(),
                "CONTINUUM_NODE_NAME": self.name,
                "CONTINUUM_MESH_HUBS": ",".join(self.hubs),
                **MESH_ENV,
            }
            if self.hub_port:
                common.update(
                    {
                        "CONTINUUM_MESH_HUB": "true",
                        "CONTINUUM_MESH_HOST": "127.0.0.1",
                        "CONTINUUM_MESH_PORT": str(self.hub_port),
                    }
                )
            self._spawn(
                "persona-runtime",
                "continuum_persona",
                {
                    **common,
                    **PERSONA_ENV,
                    "CONTINUUM_PERSONA_MODEL_PATH": str(self.model_dir),
                },
            )
            self._spawn(
                "gateway",
                "continuum_gateway",
                {
                    **common,
                    "CONTINUUM_GATEWAY_PORT": str(self.http_port),
                    "CONTINUUM_MESH_NATS_PASSWORD": self.logins.login(MESH).password,
                },
            )
            for service in ("persona-runtime", "gateway"):
                await wait_service_ready(
                    nc, service, self.processes[service], self.log(service), 120
                )
        finally:
            await nc.close()

    def _spawn(self, service: str, module: str, env: dict[str, str]) -> None:
        self.processes[service] = spawn_service(
            module,
            nats_url=self.nats.url,
            database_url=self.database_url,
            home=self.home,
            log_path=self.log(service),
            env=env,
            login=self.logins.login(service),
        )

    def kill(self) -> None:
        """kill -9 of the whole node: its services and its nats-server."""
        for process in self.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
        self.nats.kill()

    def stop(self) -> None:
        for process in self.processes.values():
            stop_service(process)
        self.nats.stop()

    async def ask(self, op: str, body: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        nc = await self.connect()
        try:
            return await request_json(nc, f"cmd.{op}", body, timeout=timeout)
        finally:
            await nc.close()

    async def http(self) -> httpx.AsyncClient:
        """A client of this node's HTTP API, with a token of every scope."""
        token = await self.ask(
            "gateway.tokens.create", {"name": "mesh-test", "scopes": ["read", "publish"]}
        )
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.http_port}",
            headers={"Authorization": f"Bearer {token['token']}"},
            timeout=60,
        )

    async def peers(self) -> dict[str, Any]:
        return await self.ask("gateway.mesh.peers", {})

    async def generate(self, **body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A routed generation, with the frames it streamed."""
        nc = await self.connect()
        frames: list[dict[str, Any]] = []
        try:
            inbox = nc.new_inbox()

            async def got(msg: Any) -> None:
                frames.append(json.loads(msg.data))

            sub = await nc.subscribe(inbox, cb=got)
            reply = await request_json(
                nc, "cmd.gateway.mesh.generate", {**body, "stream": inbox}, timeout=120
            )
            await nc.flush()
            await asyncio.sleep(0.05)
            await sub.unsubscribe()
        finally:
            await nc.close()
        return reply, frames


async def wait_for(predicate: Any, timeout: float = 60, every: float = 0.2) -> Any:
    """Poll ``predicate`` (a plain or async function) until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout}s: {predicate}")
        await asyncio.sleep(every)


@dataclass
class Mesh:
    """A hub and two leaves; leaf B is a hub too (for the loop test, and for
    leaf C, a tier further down, when asked for), and a spare identity the
    hub admits (the rogue leaf)."""

    hub: MeshNode
    a: MeshNode
    b: MeshNode
    rogue: NodeIdentity
    c: MeshNode | None = None

    @property
    def nodes(self) -> list[MeshNode]:
        return [self.hub, self.a, self.b, *([self.c] if self.c else [])]


@contextlib.asynccontextmanager
async def running_mesh(
    postgres: PostgresServer, model_dir: Path, root: Path, *, second_tier: bool = False
) -> AsyncIterator[Mesh]:
    """A hub and two leaves (leaf B a hub too; with ``second_tier``, leaf C
    joined to B), started, then stopped with their databases dropped: the
    suite's fixture and the benchmark's."""
    databases = [f"m_{uuid.uuid4().hex[:12]}" for _ in range(4 if second_tier else 3)]
    urls = [postgres.create_database(d) for d in databases]
    a_id, b_id, rogue = NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()
    c_id = NodeIdentity.generate()
    hub = MeshNode.create(
        "hub",
        root / "hub",
        urls[0],
        model_dir,
        hub=True,
        admitted=(a_id.node_id, b_id.node_id, rogue.node_id),
    )
    a = MeshNode.create(
        "leaf-a", root / "a", urls[1], model_dir, hubs=(hub.leaf_url,), identity=a_id
    )
    b = MeshNode.create(
        "leaf-b",
        root / "b",
        urls[2],
        model_dir,
        hub=True,
        hubs=(hub.leaf_url,),
        identity=b_id,
        admitted=(c_id.node_id,) if second_tier else (),
    )
    mesh = Mesh(hub, a, b, rogue)
    if second_tier:
        mesh.c = MeshNode.create(
            "leaf-c", root / "c", urls[3], model_dir, hubs=(b.leaf_url,), identity=c_id
        )
    try:
        await hub.start()
        await asyncio.gather(a.start(), b.start())
        if mesh.c is not None:
            await mesh.c.start()
        yield mesh
    finally:
        for node in mesh.nodes:
            node.stop()
        for database in databases:
            postgres.drop_database(database)
