"""Projection checkpoints and redrive records, kept beside the read model.

The checkpoint (last applied stream sequence) is written in the same
transaction as the read-model change it covers; that, and nothing about
JetStream's delivery, is what makes a projection's effect exactly-once.
"""

from __future__ import annotations

import asyncpg


def _table(schema: str, name: str) -> str:
    return f'"{schema}".{name}'


async def ensure_tables(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    await conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {_table(schema, "projection_checkpoints")} (
            projection text NOT NULL,
            stream text NOT NULL,
            position bigint NOT NULL DEFAULT 0,
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, stream)
        )"""
    )
    await conn.execute(
        f"""
        CREATE TABLE IF NOT EXISTS {_table(schema, "projection_redrives")} (
            projection text NOT NULL,
            stream text NOT NULL,
            seq bigint NOT NULL,
            redriven_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (projection, stream, seq)
        )"""
    )


async def position_for_update(
    conn: asyncpg.Connection, schema: str, projection: str, stream: str
) -> int:
    """Lock and read the checkpoint (creating it at 0) in one round trip.

    Call inside the applying transaction: the row lock serialises appliers of
    one projection, so even two runners never apply an event twice.
    """
    value = await conn.fetchval(
        f"INSERT INTO {_table(schema, 'projection_checkpoints')} AS c (projection, stream) "
        "VALUES ($1, $2) ON CONFLICT (projection, stream) DO UPDATE SET position = c.position "
        "RETURNING c.position",
        projection,
        stream,
    )
    return int(value)


async def position(conn: asyncpg.Connection, schema: str, projection: str, stream: str) -> int:
    value = await conn.fetchval(
        f"SELECT position FROM {_table(schema, 'projection_checkpoints')} "
        "WHERE projection = $1 AND stream = $2",
        projection,
        stream,
    )
    return int(value or 0)


async def advance(
    conn: asyncpg.Connection, schema: str, projection: str, stream: str, seq: int
) -> None:
    await conn.execute(
        f"UPDATE {_table(schema, 'projection_checkpoints')} SET position = $3, updated_at = now() "
        "WHERE projection = $1 AND stream = $2",
        projection,
        stream,
        seq,
    )


async def reset(conn: asyncpg.Connection, schema: str, projection: str) -> None:
    await conn.execute(
        f"DELETE FROM {_table(schema, 'projection_checkpoints')} WHERE projection = $1", projection
    )
    await conn.execute(
        f"DELETE FROM {_table(schema, 'projection_redrives')} WHERE projection = $1", projection
    )


async def record_redrive(
    conn: asyncpg.Connection, schema: str, projection: str, stream: str, seq: int
) -> bool:
    """Record that a dead letter was re-applied; False if it already was."""
    inserted = await conn.fetchval(
        f"INSERT INTO {_table(schema, 'projection_redrives')} (projection, stream, seq) "
        "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING true",
        projection,
        stream,
        seq,
    )
    return bool(inserted)
