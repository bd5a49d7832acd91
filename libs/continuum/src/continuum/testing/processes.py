"""Running a real service process against test servers."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from nats.aio.client import Client

from continuum.natsauth import NatsLogin
from continuum.node import probe
from continuum.node.services import service_env


def spawn_service(
    module: str,
    *,
    nats_url: str,
    database_url: str,
    home: Path,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    login: NatsLogin | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``python -m module`` the way the supervisor does (``env`` wins
    over the supervisor's variables)."""
    full_env = service_env({}, nats_url, database_url, home, login)
    full_env.update(env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            stdout=log,
            stderr=log,
            env=full_env,
            start_new_session=True,
        )


def stop_service(process: subprocess.Popen[bytes], timeout: float = 15.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return int(process.returncode)


async def wait_service_ready(
    nc: Client, name: str, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 30
) -> None:
    """Wait until the service answers its health check; fail with its log if it dies."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{name} exited {process.returncode}:\n{_tail(log_path)}")
        if (await probe.health(nc, name, timeout=0.5)).get("status") == "ok":
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} did not become healthy:\n{_tail(log_path)}")


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-3000:]
    except OSError:
        return "(no log)"


def clean_environment() -> dict[str, str]:
    """This process's environment without the ``CONTINUUM_*`` settings of
    whoever runs the tests (a node under test gets only what the test gives
    it), except one: LAN beacons stay on loopback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    env["CONTINUUM_MESH_LAN_INTERFACE"] = "127.0.0.1"
    return env
