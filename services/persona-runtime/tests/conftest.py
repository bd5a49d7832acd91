from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from continuum_lm.builtin import build

    path = tmp_path_factory.mktemp("model") / "builtin"
    build(path, "tiny")
    return path
