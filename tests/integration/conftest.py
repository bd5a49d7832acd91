"""Fixtures for real nodes: an environment of free
ports under a temporary home (the node is stopped after each test)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cli import cli

from continuum.natsauth.audit import violations
from continuum.node.ports import free_port
from continuum.testing.processes import clean_environment


@pytest.fixture
def expected_violations() -> list[str]:
    """Permission violations a test provokes on purpose (``user: Publish subject``)."""
    return []


@pytest.fixture
def node_env(
    tmp_path: Path, tiny_model: Path, expected_violations: list[str]
) -> Iterator[dict[str, str]]:
    env = clean_environment()
    env.update(
        {
            "CONTINUUM_HOME": str(tmp_path / "home"),
            "CONTINUUM_NATS_PORT": str(free_port()),
            "CONTINUUM_POSTGRES_PORT": str(free_port()),
            "CONTINUUM_GATEWAY_PORT": str(free_port()),
            "CONTINUUM_PERSONA_MODEL_PATH": str(tiny_model),
            "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",  # no Ollama: the built-in model
            "COLUMNS": "200",
        }
    )
    yield env
    cli(env, "down")
    # Each process of the node ran with only its own NATS permissions: none
    # may have needed more than it has.
    log = tmp_path / "home" / "nats" / "nats.log"
    assert violations(log) == expected_violations
