"""Fixtures every suite of whole nodes shares (rooms, mesh, integration)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in model at its tiny preset, built once per test run."""
    from continuum_lm.builtin import build

    path = tmp_path_factory.mktemp("model") / "builtin"
    build(path, "tiny")
    return path
