"""Driving a real node through its CLI, as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

BIN = Path(sys.executable).parent


def cli(
    env: dict[str, str], *args: str, timeout: float = 120, tool: str = "continuum"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / tool), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def state(env: dict[str, str]) -> dict:
    return json.loads((Path(env["CONTINUUM_HOME"]) / "run" / "node.json").read_text())


def wait_until(predicate: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def exits(env: dict[str, str]) -> list[dict[str, object]]:
    """The node's recorded ``service.exited`` events' data, oldest first."""
    tail = cli(
        env,
        "events",
        "tail",
        "--from-start",
        "--no-follow",
        "--json",
        "--type",
        "continuum.mesh.service.exited.v1",
    )
    return [json.loads(line)["data"] for line in tail.stdout.splitlines()]
