"""The event-log projection: every event of every context, indexed.

It answers "what happened on this node" (by type, aggregate, time) without
scanning JetStream, and keeps per-type counts. The counts are deliberately
non-idempotent (``events = events + n``): if the runner ever applied an event
twice, the counts would disagree with a rebuild, so the crash tests would see
it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from continuum.projections import Projection, Subscription
from continuum.store import Recorded, StoredEvent, event_streams

SCHEMA = "gateway"


class EventLogProjection(Projection):
    name = "event-log"
    schema = SCHEMA
    subscriptions = tuple(
        Subscription(stream, (f"evt.{stream.removeprefix('EVT_').lower()}.>",))
        for stream in event_streams()
    )

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {SCHEMA}.event_log (
                stream text NOT NULL,
                seq bigint NOT NULL,
                id uuid NOT NULL,
                type text NOT NULL,
                subject text NOT NULL,
                source text NOT NULL,
                node text NOT NULL,
                time timestamptz NOT NULL,
                correlation_id text,
                data jsonb NOT NULL,
                PRIMARY KEY (stream, seq)
            );
            CREATE INDEX IF NOT EXISTS event_log_type ON {SCHEMA}.event_log (type, time);
            CREATE INDEX IF NOT EXISTS event_log_subject ON {SCHEMA}.event_log (subject);
            CREATE INDEX IF NOT EXISTS event_log_id ON {SCHEMA}.event_log (id);
            CREATE TABLE IF NOT EXISTS {SCHEMA}.event_type_counts (
                type text PRIMARY KEY,
                events bigint NOT NULL,
                last_time timestamptz NOT NULL
            );
            """
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"TRUNCATE {SCHEMA}.event_log, {SCHEMA}.event_type_counts")

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        rows = []
        counts: Counter[str] = Counter()
        latest: dict[str, datetime] = {}
        for stored in events:
            env = stored.event.envelope
            moment = datetime.fromisoformat(env.time)
            rows.append(
                (
                    stored.stream,
                    stored.seq,
                    env.id,
                    env.type,
                    env.subject,
                    env.source,
                    env.node,
                    moment,
                    env.correlationid,
                    json.dumps(env.data),
                )
            )
            counts[env.type] += 1
            latest[env.type] = max(latest.get(env.type, moment), moment)
        await conn.executemany(
            f"INSERT INTO {SCHEMA}.event_log (stream, seq, id, type, subject, source, node, "
            "time, correlation_id, data) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            rows,
        )
        await conn.executemany(
            f"INSERT INTO {SCHEMA}.event_type_counts AS c (type, events, last_time) "
            "VALUES ($1, $2, $3) ON CONFLICT (type) DO UPDATE "
            "SET events = c.events + EXCLUDED.events, "
            "last_time = greatest(c.last_time, EXCLUDED.last_time)",
            [(t, n, latest[t]) for t, n in counts.items()],
        )


MAX_QUERY_LIMIT = 1000


class EventIds:
    """Where events with given ids already sit in the log, from the event-log
    read model: the index that makes re-sending an event id safe for as long
    as the event is in the log, not only inside JetStream's dedupe window.

    The read model trails the log by the projection's lag, which is far
    shorter than the dedupe window; a re-send inside that lag is caught by
    JetStream's ``Nats-Msg-Id`` dedupe instead."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def find(self, ids: Sequence[str]) -> dict[str, Recorded]:
        """Recorded places by id, the ids in lower case."""
        if not ids:
            return {}
        rows = await self._pool.fetch(
            f"SELECT DISTINCT ON (id) id::text AS id, stream, seq FROM {SCHEMA}.event_log "
            "WHERE id = ANY($1::uuid[]) ORDER BY id, stream, seq",
            list(set(ids)),
        )
        return {r["id"]: Recorded(r["stream"], r["seq"], duplicate=True) for r in rows}


async def query_events(
    pool: asyncpg.Pool, *, event_type: str | None, subject: str | None, limit: int
) -> list[dict[str, Any]]:
    """Newest events first, optionally of one type and/or one aggregate id."""
    clauses: list[str] = []
    args: list[object] = []
    for column, value in (("type", event_type), ("subject", subject)):
        if value is not None:
            args.append(value)
            clauses.append(f"{column} = ${len(args)}")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args.append(limit)
    rows = await pool.fetch(
        f"SELECT stream, seq, id, type, subject, source, node, time, data "
        f"FROM {SCHEMA}.event_log {where} "
        f"ORDER BY time DESC, stream, seq DESC LIMIT ${len(args)}",
        *args,
    )
    return [
        {
            **dict(r),
            "id": str(r["id"]),
            "time": r["time"].isoformat(),
            "data": json.loads(r["data"]),
        }
        for r in rows
    ]


async def type_counts(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"SELECT type, events, last_time FROM {SCHEMA}.event_type_counts ORDER BY type"
    )
    return [{**dict(r), "last_time": r["last_time"].isoformat()} for r in rows]
