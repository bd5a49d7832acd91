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

from continuum import __version__
from continuum.api_tokens import ensure_admin_token
from continuum.events.builtin import NodeStarted, NodeStopped, ServiceExited
from continuum.events.codec import EventCodec, EventFactory
from continuum.identity import NodeIdentity
from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.orphans import reap_orphans
from continuum.node.probe import wait_healthy
from continuum.node.services import ServiceProcess, installed_services, service_env
from continuum.node.state import NodeState, clear_state, read_state, write_state
from continuum.runtime.connections import connect_nats
from continuum.settings import Settings
from continuum.store.jetstream import JetStreamEventStore
from continuum.store.topology import Topology

log = logging.getLogger("continuum.node")
#: Restarts during start-up after which a service counts as failing, not slow.
_CRASH_LOOP = 3


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

    @property
    def home(self) -> Path:
        return self.settings.home

    async def run(
        self, stop: asyncio.Event, on_ready: Callable[[NodeState], None] | None = None
    ) -> None:
        home = self.home
        home.mkdir(parents=True, exist_ok=True)
        home.chmod(0o700)
        lock = acquire_lock(home)
        started = time.monotonic()
        try:
            reaped = await asyncio.to_thread(reap_orphans, home)
            if reaped:
                self.report(
                    f"stopped {len(reaped)} process(es) left by a node that did not stop cleanly"
                )
            identity = NodeIdentity.configured(home, self.settings.node_key.get_secret_value())
            name = self.settings.node_name or socket.gethostname()
            nats_url, database_url = await asyncio.to_thread(self._start_servers, name)
            nc = await connect_nats(nats_url, name="continuum-node")
            try:
                await Topology(self.settings.max_event_bytes).bootstrap(nc.jetstream())
                codec = EventCodec(self.settings.max_event_bytes, seal_key=identity.seal_key)
                store = JetStreamEventStore(nc, codec)
                factory = EventFactory(identity, f"/continuum/{identity.short_id}/node")

                async def on_exit(service: str, code: int, restarts: int, delay: float) -> None:
                    await store.append(
                        [
                            factory.new(
                                ServiceExited(
                                    service=service,
                                    exit_code=code,
                                    restarts=restarts,
                                    restart_in_s=delay,
                                ),
                                identity.node_id,
                            )
                        ],
                        None,
                    )

                env = service_env(
                    {"CONTINUUM_GATEWAY_ADMIN_TOKEN": ensure_admin_token(home)},
                    nats_url,
                    database_url,
                    home,
                )
                services = installed_services()
                tasks = []
                for service, module in sorted(services.items()):
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
                for name, reason in unhealthy.items():
                    log.error("service %s is not healthy: %s", name, reason)
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
                    urls={
                        service: str(reply["url"])
                        for service, reply in health.items()
                        if isinstance(reply.get("url"), str)
                    },
                    unhealthy=unhealthy,
                    ready=True,
                )
                write_state(home, state)
                await store.append(
                    [
                        factory.new(
                            NodeStarted(
                                name=name,
                                version=__version__,
                                services=sorted(services),
                                nats_url=nats_url,
                            ),
                            identity.node_id,
                        )
                    ],
                    None,
                )
                if unhealthy:
                    self.report(
                        f"warning: not healthy yet: {', '.join(sorted(unhealthy))} "
                        f"(logs in {home / 'logs'})"
                    )
                if on_ready is not None:
                    on_ready(state)
                refresher = asyncio.create_task(self._refresh_pids(state, stop))
                await stop.wait()
                refresher.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                with contextlib.suppress(Exception):
                    await store.append(
                        [
                            factory.new(
                                NodeStopped(name=name, uptime_s=time.monotonic() - started),
                                identity.node_id,
                            )
                        ],
                        None,
                    )
            finally:
                with contextlib.suppress(Exception):
                    await nc.drain()
        finally:
            for process in self.processes:
                await process.terminate()
            await asyncio.to_thread(self._stop_servers)
            clear_state(home)
            lock.close()

    async def _refresh_pids(self, state: NodeState, stop: asyncio.Event) -> None:
        """Keep run/node.json's service pids current across restarts."""
        while not stop.is_set():
            current = {p.name: p.pid or 0 for p in self.processes}
            if current != state.services:
                state.services = current
                write_state(self.home, state)
            await asyncio.sleep(1.0)

    def _start_servers(self, name: str) -> tuple[str, str]:
        settings = self.settings
        if settings.embedded_nats:
            self.nats = NatsServer(
                self.home / "nats",
                host=settings.nats_host,
                port=settings.nats_port,
                server_name=_server_name(name),
            )
            self.report(f"starting NATS (JetStream) on {self.nats.url}")
            self.nats.start()
            nats_url = self.nats.url
        else:
            nats_url = settings.nats_url
        if settings.embedded_postgres:
            self.postgres = PostgresServer(
                self.home / "postgres", host=settings.postgres_host, port=settings.postgres_port
            )
            self.report(f"starting PostgreSQL on {settings.postgres_host}:{settings.postgres_port}")
            try:
                self.postgres.start()
            except Exception:
                self._stop_servers()
                raise
            database_url = self.postgres.url
        else:
            database_url = settings.database_url.get_secret_value()
        return nats_url, database_url

    def _stop_servers(self) -> None:
        if self.postgres is not None:
            self.postgres.stop()
        if self.nats is not None:
            self.nats.stop()


def _server_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)
    return cleaned or "continuum"


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
