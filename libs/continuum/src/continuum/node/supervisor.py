"""The node supervisor behind ``continuum up``.

Starts (or connects to) NATS and PostgreSQL, declares the streams, starts
every installed service as a supervised process, records the node's state
for the CLI, emits the node's lifecycle events, and shuts all of it down in
reverse order on SIGINT/SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from nats.aio.client import Client
from pydantic import BaseModel

from continuum import __version__
from continuum.api_tokens import ensure_admin_token
from continuum.events.builtin import NodeStarted, NodeStopped, ServiceExited
from continuum.events.codec import EventCodec, EventFactory
from continuum.identity import NodeIdentity
from continuum.mesh.natsconf import NODE_ACCOUNT, SEED_VARIABLE, MeshLinks, leafnodes_block
from continuum.mesh.nkeys import user_seed
from continuum.mesh.settings import MeshConfigError, MeshSettings
from continuum.natsauth import MESH, NODE, NatsLogin, NodeLogins, authorization_block
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.orphans import reap_orphans
from continuum.node.probe import wait_healthy, wait_personas
from continuum.node.services import ServiceProcess, installed_services, service_env
from continuum.node.state import NodeState, clear_state, read_state, resolve_login, write_state
from continuum.node.watch import ServerWatch
from continuum.runtime.connections import connect_nats
from continuum.settings import Settings
from continuum.store.jetstream import JetStreamEventStore
from continuum.store.topology import Topology

log = logging.getLogger("continuum.node")
#: Restarts during start-up after which a service counts as failing, not slow.
_CRASH_LOOP = 3
#: How long a node event that cannot be appended yet (NATS is down) is retried.
_RECORD_FOR_S = 300.0


class AlreadyRunning(RuntimeError):
    pass


def acquire_lock(home: Path) -> IO[str]:
    """Hold ``run/node.lock`` for the node's lifetime; a second ``up`` fails fast."""
    path = home / "run" / "node.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - held until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        state = read_state(home)
        pid = f" (pid {state.pid})" if state else ""
        raise AlreadyRunning(
            f"a Continuum node is already running with home {home}{pid}; "
            "`continuum status` shows it, `continuum down` stops it"
        ) from None
    return handle


@dataclass
class Node:
    settings: Settings
    report: Callable[[str], None] = print
    nats: NatsServer | None = None
    postgres: PostgresServer | None = None
    processes: list[ServiceProcess] = field(default_factory=list)
    watches: list[ServerWatch] = field(default_factory=list)
    _background: set[asyncio.Task[None]] = field(default_factory=set)
    mesh_settings: MeshSettings = field(default_factory=MeshSettings)
    _nc: Client | None = None
    _logins: NodeLogins | None = None
    _identity: NodeIdentity | None = None

    @property
    def home(self) -> Path:
        return self.settings.home

    async def run(
        self, stop: asyncio.Event, on_ready: Callable[[NodeState], None] | None = None
    ) -> None:
        """Start the node, serve until ``stop`` is set, then stop everything.

        ``stop`` is honoured at any moment, start-up included: the start runs
        as a task that a stop cancels, and whatever it had started by then is
        stopped in reverse order."""
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        lock = acquire_lock(home)
        tasks: list[asyncio.Task[None]] = []
        try:
            startup = asyncio.create_task(self._start(stop, tasks))
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({startup, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if not startup.done():
                self.report("stopping during start-up")
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await startup
                return
            running = startup.result()
            if on_ready is not None:
                on_ready(running.state)
            refresher = asyncio.create_task(self._refresh_state(running.state, stop))
            await stop.wait()
            refresher.cancel()
            with contextlib.suppress(Exception):
                stopped = NodeStopped(name=running.state.name, uptime_s=running.uptime())
                await asyncio.wait_for(running.record(stopped, wait=True), 5.0)
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            for process in self.processes:
                await process.terminate()
            for task in self._background:
                task.cancel()
            if self._nc is not None:  # also when start-up was cancelled after connecting
                with contextlib.suppress(Exception):
                    await self._nc.drain()
            await asyncio.to_thread(self._stop_servers)
            clear_state(home)
            lock.close()

    async def _start(self, stop: asyncio.Event, tasks: list[asyncio.Task[None]]) -> _Running:
        home = self.home
        started = time.monotonic()
        reaped = await asyncio.to_thread(reap_orphans, home)
        if reaped:
            self.report(
                f"stopped {len(reaped)} process(es) left by a node that did not stop cleanly"
            )
        identity = NodeIdentity.configured(home, self.settings.node_key.get_secret_value())
        name = self.settings.node_name or socket.gethostname()
        nats_url, database_url = await self._start_servers(name, identity)
        nc = self._nc = await connect_nats(nats_url, name="continuum-node", login=self._login(NODE))
        topology = Topology(self.settings.max_event_bytes, self.settings.duplicate_window_s)
        await topology.bootstrap(nc.jetstream())
        codec = EventCodec(self.settings.max_event_bytes, seal_key=identity.seal_key)
        running = _Running(
            nc=nc,
            store=JetStreamEventStore(nc, codec),
            factory=EventFactory(identity, f"/continuum/{identity.short_id}/node"),
            node_id=identity.node_id,
            started=started,
            stop=stop,
            background=self._background,
        )

        async def on_exit(service: str, code: int, restarts: int, delay: float) -> None:
            exited = ServiceExited(
                service=service, exit_code=code, restarts=restarts, restart_in_s=delay
            )
            await running.record(exited, wait=False)

        for watch in self.watches:
            tasks.append(asyncio.create_task(watch.run(stop, on_exit)))
        base = {"CONTINUUM_GATEWAY_ADMIN_TOKEN": ensure_admin_token(home)}
        services = installed_services()
        for service, module in sorted(services.items()):
            env = service_env(base, nats_url, database_url, home, self._login(service))
            mesh_login = self._login(MESH) if service == "gateway" else None
            if mesh_login is not None:  # the mesh agent's second login, on the MESH account
                env["CONTINUUM_MESH_NATS_PASSWORD"] = mesh_login.password
            process = ServiceProcess(service, module, env, home / "logs" / f"{service}.log")
            self.processes.append(process)
            tasks.append(asyncio.create_task(process.run(stop, on_exit)))
        by_name = {p.name: p for p in self.processes}
        health = await wait_healthy(
            nc,
            list(services),
            timeout=60.0,
            given_up=lambda name: by_name[name].restarts >= _CRASH_LOOP,
        )
        unhealthy = {
            name: by_name[name].last_error()
            for name in services
            if health.get(name, {}).get("status") != "ok"
        }
        # Ready means a question gets its bids: the scheduler has heard every persona.
        personas = await wait_personas(nc, timeout=30.0)
        if personas is not None and not personas[0]:
            unhealthy["personas"] = personas[1]
        for service, reason in unhealthy.items():
            log.error("service %s is not healthy: %s", service, reason)
        state = NodeState(
            pid=os.getpid(),
            node_id=identity.node_id,
            name=name,
            nats_url=nats_url,
            database_url=database_url,
            started_at=datetime.now(UTC).isoformat(timespec="seconds"),
            embedded_nats=self.settings.embedded_nats,
            embedded_postgres=self.settings.embedded_postgres,
            services={p.name: p.pid or 0 for p in self.processes},
            servers=self._server_pids(),
            urls={
                service: str(reply["url"])
                for service, reply in health.items()
                if isinstance(reply.get("url"), str)
            },
            unhealthy=unhealthy,
            ready=True,
        )
        write_state(home, state)
        running.state = state
        await running.record(
            NodeStarted(
                name=name, version=__version__, services=sorted(services), nats_url=nats_url
            ),
            wait=True,
        )
        if unhealthy:
            self.report(
                f"warning: not healthy yet: {', '.join(sorted(unhealthy))} "
                f"(logs in {home / 'logs'})"
            )
        return running

    def _login(self, identity: str) -> NatsLogin | None:
        """``identity``'s login on the embedded server, or the configured one."""
        if self._logins is not None:
            return self._logins.login(identity)
        return resolve_login(self.settings, identity)

    def _server_pids(self) -> dict[str, int]:
        return {
            watch.name: watch.server.process.pid
            for watch in self.watches
            if watch.server.process is not None and watch.server.alive()
        }

    async def _refresh_state(self, state: NodeState, stop: asyncio.Event) -> None:
        """Keep run/node.json's pids current across restarts of services and servers."""
        while not stop.is_set():
            services = {p.name: p.pid or 0 for p in self.processes}
            servers = self._server_pids()
            if services != state.services or servers != state.servers:
                state.services, state.servers = services, servers
                write_state(self.home, state)
            await asyncio.sleep(1.0)

    def _mesh_config(self, identity: NodeIdentity) -> tuple[str, str, dict[str, str]]:
        """The MESH account and leafnodes blocks of nats.conf, and the
        variables they read (this node's NKey seed)."""
        mesh = self.mesh_settings
        links = MeshLinks(
            listen=f"{mesh.host}:{mesh.port}" if mesh.hub else "",
            hubs=tuple(mesh.hub_urls(self.home)),
        )
        authorization = authorization_block(admitted=mesh.admitted(self.home))
        seed = {SEED_VARIABLE: user_seed(identity.signing_key)}
        return authorization, leafnodes_block(links), seed

    def reload_mesh(self) -> None:
        """Apply ``continuum mesh join``/``admit`` (SIGHUP to the node): new
        hubs and admitted nodes reach the running nats-server by a reload."""
        if self.nats is None or self._identity is None:
            log.warning("mesh reload asked, but this node's NATS is not embedded")
            return
        try:
            authorization, leafnodes, _ = self._mesh_config(self._identity)
        except MeshConfigError as exc:
            log.error("mesh configuration not applied: %s", exc)
            return
        self.nats.authorization, self.nats.leafnodes = authorization, leafnodes
        self.nats.reload()
        log.info("mesh configuration reloaded")

    async def _start_servers(self, name: str, identity: NodeIdentity) -> tuple[str, str]:
        """Start the embedded servers (each in a thread: they block while they
        come up) and watch them; a stop meanwhile stops what was started."""
        settings = self.settings
        if settings.embedded_nats:
            self._logins = NodeLogins.of_home(self.home)
            self._identity = identity
            authorization, leafnodes, seed = self._mesh_config(identity)
            self.nats = NatsServer(
                self.home / "nats",
                host=settings.nats_host,
                port=settings.nats_port,
                server_name=f"{_server_name(name)}-{identity.short_id}",
                # Each node keeps its own streams, also when linked to others.
                domain=identity.node_id,
                authorization=authorization,
                environment={**self._logins.server_env(), **seed},
                leafnodes=leafnodes,
                ping_interval=self.mesh_settings.link_ping
                if self.mesh_settings.enabled(self.home)
                else "10s",
            )
            self.nats.adopt_global_streams(NODE_ACCOUNT)
            self.report(f"starting NATS (JetStream) on {self.nats.url}")
            await _start_in_thread(self.nats)
            self.watches.append(ServerWatch("nats-server", self.nats))
            nats_url = self.nats.url
        else:
            nats_url = settings.nats_url
        if settings.embedded_postgres:
            self.postgres = PostgresServer(
                self.home / "postgres", host=settings.postgres_host, port=settings.postgres_port
            )
            self.report(f"starting PostgreSQL on {settings.postgres_host}:{settings.postgres_port}")
            await _start_in_thread(self.postgres)
            self.watches.append(ServerWatch("postgres", self.postgres))
            database_url = self.postgres.url
        else:
            database_url = settings.database_url.get_secret_value()
        return nats_url, database_url

    def _stop_servers(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()


async def _start_in_thread(server: NatsServer | PostgresServer) -> None:
    """``server.start()`` without blocking the loop. If the caller is cancelled
    (a stop during start-up), the server is stopped once its start returns,
    so no half-started child outlives the node."""
    started = asyncio.ensure_future(asyncio.to_thread(server.start))
    try:
        await asyncio.shield(started)
    except asyncio.CancelledError:
        server.stop()  # a server still coming up sees itself dead and gives up
        with contextlib.suppress(Exception):
            await started
        server.stop()
        raise


@dataclass
class _Running:
    """What a started node holds while it serves."""

    nc: Client
    store: JetStreamEventStore
    factory: EventFactory
    node_id: str
    started: float
    stop: asyncio.Event
    background: set[asyncio.Task[None]]
    state: NodeState = field(init=False)

    def uptime(self) -> float:
        return time.monotonic() - self.started

    async def record(self, payload: BaseModel, *, wait: bool) -> None:
        """Append a node event. ``wait=False`` retries in the background until
        NATS takes it (an exit of nats-server itself is recorded once it is
        back), giving up after ``_RECORD_FOR_S``."""
        event = self.factory.new(payload, self.node_id)
        if wait:
            await self.store.append([event], None)
            return

        async def keep_trying() -> None:
            deadline = time.monotonic() + _RECORD_FOR_S
            while time.monotonic() < deadline:
                try:
                    await self.store.append([event], None)
                    return
                except Exception as exc:
                    log.debug("recording %s later: %s", event.type, exc)
                    await asyncio.sleep(0.5)
            log.warning("could not record %s: NATS did not come back", event.type)

        task = asyncio.create_task(keep_trying())
        self.background.add(task)
        task.add_done_callback(self.background.discard)


def _server_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return cleaned or "continuum"


def install_signal_handlers(stop: asyncio.Event, reload: Callable[[], None] | None = None) -> None:
    """SIGINT/SIGTERM stop the node; SIGHUP re-reads the mesh's links."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if reload is not None:
        loop.add_signal_handler(signal.SIGHUP, reload)
