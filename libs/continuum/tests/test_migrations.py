from __future__ import annotations

import asyncio

import asyncpg
import pytest

from continuum.runtime import Migration, migrate

STEPS = [
    Migration(1, "create notes", "CREATE TABLE notes (id int PRIMARY KEY, body text)"),
    Migration(2, "add author", "ALTER TABLE notes ADD COLUMN author text"),
]


async def test_each_step_is_applied_once_even_by_concurrent_replicas(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(*(migrate(pool, "svc", STEPS) for _ in range(4)))
    assert sorted(v for r in results for v in r) == [1, 2]
    assert await migrate(
        pool, "svc", [*STEPS, Migration(3, "index", "CREATE INDEX ON notes (author)")]
    ) == [3]
    rows = await pool.fetch(
        "SELECT version, description FROM svc.schema_migrations ORDER BY version"
    )
    assert [tuple(r) for r in rows] == [(1, "create notes"), (2, "add author"), (3, "index")]
    await pool.execute("INSERT INTO svc.notes VALUES (1, 'hi', 'me')")


async def test_a_failing_step_leaves_no_trace(pool: asyncpg.Pool) -> None:
    bad = [*STEPS, Migration(3, "broken", "ALTER TABLE nowhere ADD COLUMN x int")]
    with pytest.raises(asyncpg.UndefinedTableError):
        await migrate(pool, "svc2", bad)
    versions = [
        r["version"] for r in await pool.fetch("SELECT version FROM svc2.schema_migrations")
    ]
    assert sorted(versions) == [1, 2]


async def test_versions_must_increase(pool: asyncpg.Pool) -> None:
    with pytest.raises(ValueError, match="unique, increasing"):
        await migrate(pool, "svc3", [STEPS[1], STEPS[0]])
