"""The chat read model: rooms, members, messages and turn decisions in Postgres.

Fed by the chat context; answers the room endpoints and ``chat why``. Like
every projection it can be dropped and rebuilt from the log.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from continuum.events.chat import (
    MemberJoined,
    MemberLeft,
    MessagePosted,
    RoomClosed,
    RoomCreated,
    RoomPolicyChanged,
    TurnDecided,
    TurnEnded,
    TurnPreempted,
)
from continuum.projections import Projection, Subscription
from continuum.store import StoredEvent

SCHEMA = "gateway"


class ChatProjection(Projection):
    name = "chat"
    schema = SCHEMA
    subscriptions = (Subscription("EVT_CHAT", ("evt.chat.>",)),)

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {SCHEMA}.chat_rooms (
                room_id text PRIMARY KEY,
                name text NOT NULL,
                topic text NOT NULL,
                policy jsonb NOT NULL,
                created_by text NOT NULL,
                created_at timestamptz NOT NULL,
                messages bigint NOT NULL DEFAULT 0,
                last_message_at timestamptz
            );
            CREATE TABLE IF NOT EXISTS {SCHEMA}.chat_members (
                room_id text NOT NULL,
                member_id text NOT NULL,
                kind text NOT NULL,
                name text NOT NULL,
                joined_at timestamptz NOT NULL,
                PRIMARY KEY (room_id, member_id)
            );
            CREATE TABLE IF NOT EXISTS {SCHEMA}.chat_messages (
                message_id text PRIMARY KEY,
                room_id text NOT NULL,
                seq bigint NOT NULL,
                author_id text NOT NULL,
                author_kind text NOT NULL,
                author_name text NOT NULL,
                text text NOT NULL,
                mentions jsonb NOT NULL,
                reply_to text,
                turn_id text,
                status text NOT NULL,
                error text,
                tokens integer NOT NULL,
                signature text,
                posted_at timestamptz NOT NULL
            );
            CREATE INDEX IF NOT EXISTS chat_messages_room ON {SCHEMA}.chat_messages (room_id, seq);
            -- The trace a message was posted under (a client links to it); added
            -- after the table, so an existing read model gains it in place.
            ALTER TABLE {SCHEMA}.chat_messages ADD COLUMN IF NOT EXISTS trace_id text;
            CREATE TABLE IF NOT EXISTS {SCHEMA}.chat_turns (
                turn_id text PRIMARY KEY,
                room_id text NOT NULL,
                trigger_message_id text NOT NULL,
                decision jsonb NOT NULL,
                decided_at timestamptz NOT NULL,
                seq bigint NOT NULL
            );
            CREATE INDEX IF NOT EXISTS chat_turns_trigger
                ON {SCHEMA}.chat_turns (trigger_message_id);
            CREATE TABLE IF NOT EXISTS {SCHEMA}.chat_turn_events (
                seq bigint PRIMARY KEY,
                room_id text NOT NULL,
                turn_id text NOT NULL,
                kind text NOT NULL,
                body jsonb NOT NULL,
                at timestamptz NOT NULL
            );
            CREATE INDEX IF NOT EXISTS chat_turn_events_turn ON {SCHEMA}.chat_turn_events (turn_id);
            """
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"TRUNCATE {SCHEMA}.chat_rooms, {SCHEMA}.chat_members, {SCHEMA}.chat_messages, "
            f"{SCHEMA}.chat_turns, {SCHEMA}.chat_turn_events"
        )

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        envelope, payload = event.event.envelope, event.event.payload
        room = envelope.subject
        at = datetime.fromisoformat(envelope.time)
        if isinstance(payload, RoomCreated):
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.chat_rooms
                (room_id, name, topic, policy, created_by, created_at)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (room_id) DO NOTHING""",
                room,
                payload.name,
                payload.topic,
                payload.policy.model_dump_json(),
                payload.created_by,
                at,
            )
        elif isinstance(payload, RoomClosed):
            for table in ("chat_members", "chat_messages", "chat_turns", "chat_turn_events"):
                await conn.execute(f"DELETE FROM {SCHEMA}.{table} WHERE room_id = $1", room)
            await conn.execute(f"DELETE FROM {SCHEMA}.chat_rooms WHERE room_id = $1", room)
        elif isinstance(payload, RoomPolicyChanged):
            await conn.execute(
                f"UPDATE {SCHEMA}.chat_rooms SET policy = $2 WHERE room_id = $1",
                room,
                payload.policy.model_dump_json(),
            )
        elif isinstance(payload, MemberJoined):
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.chat_members (room_id, member_id, kind, name, joined_at)
                VALUES ($1, $2, $3, $4, $5)
                ON CONFLICT (room_id, member_id) DO UPDATE SET name = EXCLUDED.name""",
                room,
                payload.member_id,
                payload.kind,
                payload.name,
                at,
            )
        elif isinstance(payload, MemberLeft):
            await conn.execute(
                f"DELETE FROM {SCHEMA}.chat_members WHERE room_id = $1 AND member_id = $2",
                room,
                payload.member_id,
            )
        elif isinstance(payload, MessagePosted):
            inserted = await conn.fetchval(
                f"""INSERT INTO {SCHEMA}.chat_messages (message_id, room_id, seq, author_id,
                author_kind, author_name, text, mentions, reply_to, turn_id, status, error,
                tokens, signature, posted_at, trace_id)
                VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)
                ON CONFLICT (message_id) DO NOTHING RETURNING 1""",
                payload.message_id,
                room,
                event.seq,
                payload.author_id,
                payload.author_kind,
                payload.author_name,
                payload.text,
                json.dumps(payload.mentions),
                payload.reply_to,
                payload.turn_id,
                payload.status,
                payload.error,
                payload.tokens,
                payload.signature,
                at,
                event.trace_id,
            )
            if inserted:
                await conn.execute(
                    f"""UPDATE {SCHEMA}.chat_rooms SET messages = messages + 1,
                    last_message_at = $2 WHERE room_id = $1""",
                    room,
                    at,
                )
        elif isinstance(payload, TurnDecided):
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.chat_turns (turn_id, room_id, trigger_message_id,
                decision, decided_at, seq) VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT (turn_id) DO NOTHING""",
                payload.turn_id,
                room,
                payload.trigger_message_id,
                payload.model_dump_json(),
                at,
                event.seq,
            )
        elif isinstance(payload, TurnPreempted | TurnEnded):
            kind = "preempted" if isinstance(payload, TurnPreempted) else "ended"
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.chat_turn_events (seq, room_id, turn_id, kind, body, at)
                VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (seq) DO NOTHING""",
                event.seq,
                room,
                payload.turn_id,
                kind,
                payload.model_dump_json(),
                at,
            )

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        for event in events:
            await self.apply(conn, event)


def _row(record: asyncpg.Record) -> dict[str, Any]:
    out = dict(record)
    for key, value in out.items():
        if isinstance(value, datetime):
            out[key] = value.isoformat()
        elif key in ("policy", "mentions", "decision", "body") and isinstance(value, str):
            out[key] = json.loads(value)
    return out


async def list_rooms(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""SELECT r.*, (SELECT count(*) FROM {SCHEMA}.chat_members m WHERE m.room_id = r.room_id)
        AS members FROM {SCHEMA}.chat_rooms r ORDER BY r.room_id"""
    )
    return [_row(r) for r in rows]


async def get_room(pool: asyncpg.Pool, room_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(f"SELECT * FROM {SCHEMA}.chat_rooms WHERE room_id = $1", room_id)
    if row is None:
        return None
    room = _row(row)
    members = await pool.fetch(
        f"""SELECT member_id, kind, name, joined_at FROM {SCHEMA}.chat_members
        WHERE room_id = $1 ORDER BY joined_at, member_id""",
        room_id,
    )
    room["members"] = [_row(m) for m in members]
    return room


async def list_messages(
    pool: asyncpg.Pool, room_id: str, after: int, limit: int
) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        f"""SELECT * FROM {SCHEMA}.chat_messages WHERE room_id = $1 AND seq > $2
        ORDER BY seq LIMIT $3""",
        room_id,
        after,
        limit,
    )
    return [_row(r) for r in rows]


async def get_message(pool: asyncpg.Pool, message_id: str) -> dict[str, Any] | None:
    row = await pool.fetchrow(
        f"SELECT * FROM {SCHEMA}.chat_messages WHERE message_id = $1", message_id
    )
    return _row(row) if row is not None else None


async def why(pool: asyncpg.Pool, message_id: str) -> dict[str, Any] | None:
    """The decisions behind a message: the one that granted its turn (a
    persona's message) or those it triggered (anyone's), with what happened
    to those turns afterwards."""
    message = await get_message(pool, message_id)
    if message is None:
        return None
    turns = await pool.fetch(
        f"""SELECT * FROM {SCHEMA}.chat_turns WHERE turn_id = $1 OR trigger_message_id = $2
        OR trigger_message_id = (SELECT trigger_message_id FROM {SCHEMA}.chat_turns
                                 WHERE turn_id = $1)
        ORDER BY seq""",
        message.get("turn_id") or "",
        message_id,
    )
    decisions = [_row(t) for t in turns]
    ids = [d["turn_id"] for d in decisions]
    events = await pool.fetch(
        f"SELECT * FROM {SCHEMA}.chat_turn_events WHERE turn_id = ANY($1::text[]) ORDER BY seq",
        ids,
    )
    return {
        "message": message,
        "decisions": [d["decision"] for d in decisions],
        "turn_events": [{"kind": e["kind"], **_row(e)["body"]} for e in events],
    }
