from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from continuum.testing.plugin import SpawnService

Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def gateway(spawn_service: SpawnService) -> Spawn:
    """Start the gateway as a real process; call again to restart it."""
    return lambda **env: spawn_service("continuum_gateway", **env)
