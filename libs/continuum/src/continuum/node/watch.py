"""Keeping the node's own servers (nats-server, PostgreSQL) alive.

The supervisor starts them as child processes; if one dies (OOM killer,
``kill -9``, a crash) nothing else would notice: the services reconnect
forever to a port nobody listens on, and the dead child stays a zombie. A
``ServerWatch`` reaps the child, restarts it with the same backoff as a
service, and reports the exit so the supervisor can record it as an event
once NATS answers again. Clients (services, the supervisor's own
connection) reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from continuum.node.backoff import RestartPolicy

log = logging.getLogger("continuum.node")

#: How often a server's process is polled (also what reaps it).
POLL_S = 0.2

ExitCallback = Callable[[str, int, int, float], Awaitable[None]]


class Server(Protocol):
    process: subprocess.Popen[bytes] | None

    def start(self) -> None: ...

    def alive(self) -> bool: ...


@dataclass
class ServerWatch:
    """Restart ``server`` whenever it dies, until ``stop`` is set."""

    name: str
    server: Server
    policy: RestartPolicy = field(default_factory=RestartPolicy)

    async def run(self, stop: asyncio.Event, on_exit: ExitCallback) -> None:
        self.policy.started()
        while not stop.is_set():
            if self.server.alive():  # poll() also reaps a dead child
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_S)
                continue
            process = self.server.process
            code = process.returncode if process is not None else None
            delay = self.policy.exited()
            log.warning(
                "%s exited with %s; restart %d in %.1fs",
                self.name,
                code,
                self.policy.restarts,
                delay,
            )
            with contextlib.suppress(Exception):
                await on_exit(
                    self.name, code if code is not None else -1, self.policy.restarts, delay
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            try:
                await asyncio.to_thread(self.server.start)
            except Exception as exc:  # the next round counts it and backs off further
                log.error("%s did not restart: %s", self.name, exc)
                continue
            self.policy.started()
            log.info("%s restarted (pid %s)", self.name, self._pid())

    def _pid(self) -> int | None:
        process = self.server.process
        return process.pid if process is not None else None
