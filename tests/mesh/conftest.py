from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mesh_harness import Mesh, running_mesh

from continuum.node.embedded import PostgresServer


@pytest.fixture(scope="module")
async def mesh(
    postgres_server: PostgresServer, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mesh]:
    root = tmp_path_factory.mktemp("mesh")
    async with running_mesh(postgres_server, tiny_model, root, second_tier=True) as mesh:
        yield mesh
