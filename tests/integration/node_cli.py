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


def mesh_node_env(
    root: Path, name: str, model: Path, lan_port: int, **extra: str
) -> dict[str, str]:
    """The environment of a `continuum up` node named ``name`` under ``root``
    for a mesh test: free ports, the tiny model, mesh links on loopback, the
    test's own LAN beacon port (``extra`` overrides or adds settings)."""
    from continuum.node.ports import free_port
    from continuum.testing.processes import clean_environment

    env = clean_environment()
    env.update(
        {
            "CONTINUUM_HOME": str(root / name),
            "CONTINUUM_NODE_NAME": name,
            "CONTINUUM_NATS_PORT": str(free_port()),
            "CONTINUUM_POSTGRES_PORT": str(free_port()),
            "CONTINUUM_GATEWAY_PORT": str(free_port()),
            "CONTINUUM_PERSONA_MODEL_PATH": str(model),
            "CONTINUUM_MESH_HOST": "127.0.0.1",
            "CONTINUUM_MESH_LAN_PORT": str(lan_port),
            "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",
            "COLUMNS": "200",
            **extra,
        }
    )
    return env


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
