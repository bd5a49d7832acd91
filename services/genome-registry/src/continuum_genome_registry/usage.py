"""The layer-usage read model: how often each layer was active, and how fast.

Fed by ``OutcomeRecorded`` (persona context): every generation names the
layers it ran with and the time the genome took to go live. The academy and
the marketplace read these tables; ``continuum genome show`` prints them.
Exactly-once like every projection: its checkpoint commits with its rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from continuum.events.persona import OutcomeRecorded
from continuum.genome import LayerError, split_ref
from continuum.projections import Projection, Subscription
from continuum.runtime.timestamps import event_time
from continuum.store import StoredEvent

SCHEMA = "genome_registry"


class LayerUsageProjection(Projection):
    name = "layer-usage"
    schema = SCHEMA
    subscriptions = (Subscription("EVT_PERSONA", ("evt.persona.persona.*",)),)

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {SCHEMA}.layer_usage (
                layer_id text NOT NULL,
                version text NOT NULL,
                generations bigint NOT NULL DEFAULT 0,
                completed bigint NOT NULL DEFAULT 0,
                tokens bigint NOT NULL DEFAULT 0,
                duration_ms double precision NOT NULL DEFAULT 0,
                first_token_ms double precision NOT NULL DEFAULT 0,
                first_tokens bigint NOT NULL DEFAULT 0,
                load_ms double precision NOT NULL DEFAULT 0,
                loads bigint NOT NULL DEFAULT 0,
                last_used_at timestamptz,
                PRIMARY KEY (layer_id, version)
            );
            CREATE TABLE IF NOT EXISTS {SCHEMA}.persona_layer_usage (
                persona_id text NOT NULL,
                layer_id text NOT NULL,
                version text NOT NULL,
                generations bigint NOT NULL DEFAULT 0,
                last_used_at timestamptz,
                PRIMARY KEY (persona_id, layer_id, version)
            );
            """
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"TRUNCATE {SCHEMA}.layer_usage, {SCHEMA}.persona_layer_usage")

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        payload = event.event.payload
        if not isinstance(payload, OutcomeRecorded) or not payload.genome:
            return
        when = datetime.fromtimestamp(event_time(event.event.envelope), UTC)
        persona_id = event.event.envelope.subject
        for active in payload.genome:
            try:
                layer_id, version = split_ref(active.layer)
            except LayerError:
                continue  # nothing to count it under
            await conn.execute(
                f"""
                INSERT INTO {SCHEMA}.layer_usage AS u (layer_id, version, generations, completed,
                    tokens, duration_ms, first_token_ms, first_tokens, load_ms, loads, last_used_at)
                VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (layer_id, version) DO UPDATE SET
                    generations = u.generations + 1,
                    completed = u.completed + EXCLUDED.completed,
                    tokens = u.tokens + EXCLUDED.tokens,
                    duration_ms = u.duration_ms + EXCLUDED.duration_ms,
                    first_token_ms = u.first_token_ms + EXCLUDED.first_token_ms,
                    first_tokens = u.first_tokens + EXCLUDED.first_tokens,
                    load_ms = u.load_ms + EXCLUDED.load_ms,
                    loads = u.loads + EXCLUDED.loads,
                    last_used_at = GREATEST(u.last_used_at, EXCLUDED.last_used_at)
                """,
                layer_id,
                version,
                1 if payload.status == "complete" else 0,
                payload.tokens,
                payload.duration_ms,
                payload.first_token_ms or 0.0,
                1 if payload.first_token_ms is not None else 0,
                payload.genome_load_ms or 0.0,
                1 if payload.genome_load_ms is not None else 0,
                when,
            )
            await conn.execute(
                f"""
                INSERT INTO {SCHEMA}.persona_layer_usage AS p
                    (persona_id, layer_id, version, generations, last_used_at)
                VALUES ($1, $2, $3, 1, $4)
                ON CONFLICT (persona_id, layer_id, version) DO UPDATE SET
                    generations = p.generations + 1,
                    last_used_at = GREATEST(p.last_used_at, EXCLUDED.last_used_at)
                """,
                persona_id,
                layer_id,
                version,
                when,
            )


async def usage_of(pool: asyncpg.Pool, layer_id: str) -> list[dict[str, object]]:
    rows = await pool.fetch(
        f"""
        SELECT u.*, (SELECT count(*) FROM {SCHEMA}.persona_layer_usage p
                     WHERE p.layer_id = u.layer_id AND p.version = u.version) AS personas
        FROM {SCHEMA}.layer_usage u WHERE layer_id = $1 ORDER BY version
        """,
        layer_id,
    )
    return [
        {
            "version": r["version"],
            "generations": r["generations"],
            "completed": r["completed"],
            "tokens": r["tokens"],
            "personas": r["personas"],
            "mean_duration_ms": round(r["duration_ms"] / r["generations"], 1),
            "mean_first_token_ms": round(r["first_token_ms"] / r["first_tokens"], 1)
            if r["first_tokens"]
            else None,
            "mean_load_ms": round(r["load_ms"] / r["loads"], 3) if r["loads"] else None,
            "last_used_at": r["last_used_at"].isoformat() if r["last_used_at"] else None,
        }
        for r in rows
    ]
