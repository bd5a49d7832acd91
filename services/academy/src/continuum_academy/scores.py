"""The scores read model: attempts and every score they got, in Postgres.

Leaderboards and grader reputations are computed from these two tables, so
both are projections over the event log: ``continuum events replay
academy-scores`` drops them and rebuilds them to the same rows.
"""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg

from continuum.events.academy import AttemptScored, AttemptSubmitted, ExerciseIssued, SessionCreated
from continuum.projections import Projection, Subscription
from continuum.runtime.timestamps import event_time
from continuum.store import StoredEvent

SCHEMA = "academy"


class ScoresProjection(Projection):
    name = "academy-scores"
    schema = SCHEMA
    subscriptions = (Subscription("EVT_ACADEMY", ("evt.academy.session.*",)),)

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {SCHEMA}.sessions (
                session_id text PRIMARY KEY,
                skill text NOT NULL,
                persona_id text NOT NULL
            );
            CREATE TABLE IF NOT EXISTS {SCHEMA}.exercises (
                session_id text NOT NULL,
                exercise_id text NOT NULL,
                key text NOT NULL,
                has_gold boolean NOT NULL,
                PRIMARY KEY (session_id, exercise_id)
            );
            CREATE TABLE IF NOT EXISTS {SCHEMA}.attempts (
                attempt_id text PRIMARY KEY,
                session_id text NOT NULL,
                exercise_id text NOT NULL,
                skill text NOT NULL,
                key text NOT NULL,
                has_gold boolean NOT NULL,
                contestant text NOT NULL,
                submitter text NOT NULL,
                submitted_at timestamptz NOT NULL
            );
            CREATE TABLE IF NOT EXISTS {SCHEMA}.scores (
                attempt_id text NOT NULL,
                grader text NOT NULL,
                source text NOT NULL,
                score double precision NOT NULL,
                passed boolean NOT NULL,
                seq bigint NOT NULL,
                PRIMARY KEY (attempt_id, grader)
            );
            CREATE INDEX IF NOT EXISTS attempts_skill ON {SCHEMA}.attempts (skill, key);
            """
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"TRUNCATE {SCHEMA}.sessions, {SCHEMA}.exercises, {SCHEMA}.attempts, {SCHEMA}.scores"
        )

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        payload = event.event.payload
        session_id = event.event.envelope.subject  # the aggregate id
        if isinstance(payload, SessionCreated):
            await conn.execute(
                f"INSERT INTO {SCHEMA}.sessions VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                session_id,
                payload.skill,
                payload.persona_id,
            )
        elif isinstance(payload, ExerciseIssued):
            await conn.execute(
                f"INSERT INTO {SCHEMA}.exercises VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                session_id,
                payload.exercise_id,
                payload.key,
                payload.answer is not None,
            )
        elif isinstance(payload, AttemptSubmitted):
            await conn.execute(
                f"""
                INSERT INTO {SCHEMA}.attempts
                SELECT $1, $2, $3, s.skill, e.key, e.has_gold, $4, $5, $6
                FROM {SCHEMA}.sessions s JOIN {SCHEMA}.exercises e USING (session_id)
                WHERE s.session_id = $2 AND e.exercise_id = $3
                ON CONFLICT DO NOTHING
                """,
                payload.attempt_id,
                session_id,
                payload.exercise_id,
                payload.contestant,
                payload.submitter,
                datetime.fromtimestamp(event_time(event.event.envelope), UTC),
            )
        elif isinstance(payload, AttemptScored):
            # A later score by the same grader (a human changing their rating) replaces it.
            await conn.execute(
                f"""
                INSERT INTO {SCHEMA}.scores VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (attempt_id, grader) DO UPDATE
                SET score = EXCLUDED.score, passed = EXCLUDED.passed, seq = EXCLUDED.seq
                WHERE {SCHEMA}.scores.seq < EXCLUDED.seq
                """,
                payload.attempt_id,
                payload.grader,
                payload.source,
                payload.score,
                payload.passed,
                event.seq,
            )


async def load_scores(conn: asyncpg.Connection, skill: str) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""
            SELECT a.attempt_id, a.key, a.has_gold, a.contestant, s.grader, s.source,
                   s.score, s.passed
            FROM {SCHEMA}.attempts a JOIN {SCHEMA}.scores s USING (attempt_id)
            WHERE a.skill = $1
            ORDER BY a.attempt_id, s.grader
            """,
            skill,
        )
    )
