"""Discovering the installed services and running them as supervised processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path

from continuum.natsauth import NatsLogin
from continuum.node.backoff import RestartPolicy

log = logging.getLogger("continuum.node")

ExitCallback = Callable[[str, int, int, float], Awaitable[None]]


def installed_services() -> dict[str, str]:
    """Service name -> module, from the ``continuum.services`` entry points."""
    return {ep.name: ep.value for ep in entry_points(group="continuum.services")}


@dataclass
class ServiceProcess:
    """One service as a child process, restarted with backoff when it dies."""

    name: str
    module: str
    env: dict[str, str]
    log_path: Path
    policy: RestartPolicy = field(default_factory=RestartPolicy)
    process: asyncio.subprocess.Process | None = field(default=None, repr=False)

    @property
    def restarts(self) -> int:
        return self.policy.restarts

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def last_error(self) -> str:
        """The last thing the service logged (its JSON ``msg`` if it logs JSON),
        for telling a user why it is not healthy."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(max(0, fh.seek(0, 2) - 8192))
                lines = [ln for ln in fh.read().decode(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log yet"
        if not lines:
            return "no log yet"
        last = lines[-1]
        try:
            message = json.loads(last).get("msg", last)
        except (ValueError, AttributeError):
            message = last
        return str(message)[:400]

    async def _spawn(self) -> asyncio.subprocess.Process:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as logfile:  # noqa: ASYNC230 - a quick local open
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                self.module,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=logfile,
                stderr=logfile,
                env=self.env,
                start_new_session=True,
            )
        self.process = process
        return process

    async def run(self, stop: asyncio.Event, on_exit: ExitCallback) -> None:
        while not stop.is_set():
            process = await self._spawn()
            self.policy.started()
            waiter = asyncio.create_task(process.wait())
            stopper = asyncio.create_task(stop.wait())
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if stop.is_set():
                waiter.cancel()
                await self.terminate()
                return
            code = waiter.result()
            delay = self.policy.exited()
            log.warning(
                "service %s exited with %s; restart %d in %.1fs",
                self.name,
                code,
                self.restarts,
                delay,
            )
            with contextlib.suppress(Exception):
                await on_exit(self.name, code, self.restarts, delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)

    async def terminate(self, timeout: float = 15.0) -> None:
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def service_env(
    base: dict[str, str],
    nats_url: str,
    database_url: str,
    home: Path,
    login: NatsLogin | None = None,
) -> dict[str, str]:
    """A service's environment: the node's, plus where its servers are and,
    on a node with NATS logins, its own (and no other process's) login."""
    env = dict(os.environ)
    env.update(base)
    if login is not None:
        env.update({"CONTINUUM_NATS_USER": login.user, "CONTINUUM_NATS_PASSWORD": login.password})
    env.update(
        {
            "CONTINUUM_NATS_URL": nats_url,
            "CONTINUUM_DATABASE_URL": database_url,
            "CONTINUUM_HOME": str(home),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env
