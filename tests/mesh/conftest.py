from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mesh_harness import Mesh, MeshNode

from continuum.identity import NodeIdentity
from continuum.node.embedded import PostgresServer


@pytest.fixture(scope="module")
async def mesh(
    postgres_server: PostgresServer, tiny_model: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mesh]:
    root = tmp_path_factory.mktemp("mesh")
    databases = [f"m_{uuid.uuid4().hex[:12]}" for _ in range(3)]
    urls = [postgres_server.create_database(d) for d in databases]
    a_id, b_id, rogue = NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()
    hub = MeshNode.create(
        "hub",
        root / "hub",
        urls[0],
        tiny_model,
        hub=True,
        admitted=(a_id.node_id, b_id.node_id, rogue.node_id),
    )
    a = MeshNode.create(
        "leaf-a", root / "a", urls[1], tiny_model, hubs=(hub.leaf_url,), identity=a_id
    )
    b = MeshNode.create(
        "leaf-b", root / "b", urls[2], tiny_model, hub=True, hubs=(hub.leaf_url,), identity=b_id
    )
    mesh = Mesh(hub, a, b, rogue)
    try:
        await hub.start()
        await asyncio.gather(a.start(), b.start())
        yield mesh
    finally:
        for node in mesh.nodes:
            node.stop()
        for database in databases:
            postgres_server.drop_database(database)
