"""The statements read model: every ledger entry per account, with the
transaction it belongs to, in PostgreSQL (schema ``marketplace``).

A projection like every other (its checkpoint commits with its rows, so a
redelivered event has no second effect; ``continuum projections rebuild
market-ledger`` drops and replays it). The journal never reads it: balances
that decide whether a purchase may go through come from the log itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from continuum.events.market import EntryRecorded, TransactionRecorded
from continuum.market.ledger import format_units
from continuum.projections import Projection, Subscription
from continuum.runtime.timestamps import event_time
from continuum.store import StoredEvent

SCHEMA = "marketplace"


class StatementsProjection(Projection):
    name = "market-ledger"
    schema = SCHEMA
    subscriptions = (
        Subscription("EVT_MARKET", ("evt.market.account.*", "evt.market.transaction.*")),
    )

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            f"""
            CREATE TABLE IF NOT EXISTS {SCHEMA}.entries (
                account text NOT NULL,
                seq bigint NOT NULL,
                transaction text NOT NULL,
                kind text NOT NULL,
                amount bigint NOT NULL,
                at timestamptz NOT NULL,
                PRIMARY KEY (account, seq)
            );
            CREATE INDEX IF NOT EXISTS entries_transaction ON {SCHEMA}.entries (transaction);
            CREATE TABLE IF NOT EXISTS {SCHEMA}.transactions (
                id text PRIMARY KEY,
                kind text NOT NULL,
                memo text NOT NULL,
                layer text NOT NULL,
                quantity bigint NOT NULL,
                by_whom text NOT NULL,
                at timestamptz NOT NULL
            );
            """
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute(f"TRUNCATE {SCHEMA}.entries, {SCHEMA}.transactions")

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        payload = event.event.payload
        envelope = event.event.envelope
        when = datetime.fromtimestamp(event_time(envelope), UTC)
        if isinstance(payload, EntryRecorded):
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.entries VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT DO NOTHING""",
                envelope.subject,
                event.seq,
                payload.transaction,
                payload.kind,
                payload.amount,
                when,
            )
        elif isinstance(payload, TransactionRecorded):
            await conn.execute(
                f"""INSERT INTO {SCHEMA}.transactions VALUES ($1, $2, $3, $4, $5, $6, $7)
                ON CONFLICT DO NOTHING""",
                envelope.subject,
                payload.kind,
                payload.memo,
                payload.layer,
                payload.quantity,
                payload.by,
                when,
            )


async def statement(pool: asyncpg.Pool, account: str, limit: int) -> dict[str, Any]:
    """``account``'s balance and its latest ``limit`` entries, newest first,
    with the running balance after each."""
    rows = await pool.fetch(
        f"""
        SELECT e.seq, e.transaction, e.kind, e.amount, e.at, t.memo, t.layer, t.quantity,
               sum(e.amount) OVER (ORDER BY e.seq) AS running
        FROM {SCHEMA}.entries e LEFT JOIN {SCHEMA}.transactions t ON t.id = e.transaction
        WHERE e.account = $1 ORDER BY e.seq DESC LIMIT $2
        """,
        account,
        limit,
    )
    totals = await pool.fetchrow(
        f"""SELECT coalesce(sum(amount), 0) AS balance,
                   coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS credited,
                   coalesce(-sum(amount) FILTER (WHERE amount < 0), 0) AS debited,
                   count(*) AS entries
            FROM {SCHEMA}.entries WHERE account = $1""",
        account,
    )
    assert totals is not None
    return {
        "account": account,
        "balance_units": int(totals["balance"]),
        "balance": format_units(int(totals["balance"])),
        "credited": format_units(int(totals["credited"])),
        "debited": format_units(int(totals["debited"])),
        "entries": int(totals["entries"]),
        "lines": [
            {
                "at": r["at"].isoformat(),
                "transaction": r["transaction"],
                "kind": r["kind"],
                "amount_units": r["amount"],
                "amount": format_units(r["amount"]),
                "balance": format_units(int(r["running"])),
                "layer": r["layer"] or "",
                "uses": r["quantity"] or 0,
                "memo": r["memo"] or "",
            }
            for r in rows
        ],
    }


async def totals(pool: asyncpg.Pool) -> dict[str, int]:
    """Every account's balance (the audit: they sum to zero; mint's is minus all grants)."""
    rows = await pool.fetch(
        f"SELECT account, sum(amount) AS b FROM {SCHEMA}.entries GROUP BY account"
    )
    return {r["account"]: int(r["b"]) for r in rows}
