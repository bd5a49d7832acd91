"""Pinned layers, kept in persona-runtime's schema so a pin outlives a restart.

`genome cache --pin` promises "never evicted": a pin that vanished with the
process would break that promise at the first restart. Pins are this node's
cache policy, not a fact about the layer, so they live in the service's own
table rather than in the event log.
"""

from __future__ import annotations

import asyncpg

from continuum.runtime import Migration

MIGRATIONS = (
    Migration(
        1,
        "layers pinned in the node's layer cache",
        """
        CREATE TABLE pinned_layers (
            layer_id text PRIMARY KEY,
            pinned_at timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
)


class PinStore:
    def __init__(self, pool: asyncpg.Pool, schema: str) -> None:
        self._pool = pool
        self._table = f'"{schema}".pinned_layers'

    async def load(self) -> set[str]:
        rows = await self._pool.fetch(f"SELECT layer_id FROM {self._table}")
        return {r["layer_id"] for r in rows}

    async def pin(self, layer_id: str) -> None:
        await self._pool.execute(
            f"INSERT INTO {self._table} (layer_id) VALUES ($1) ON CONFLICT DO NOTHING",
            layer_id,
        )

    async def unpin(self, layer_id: str) -> None:
        await self._pool.execute(f"DELETE FROM {self._table} WHERE layer_id = $1", layer_id)
