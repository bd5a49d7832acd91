"""The meter: this node's uses of licensed layers, reported to the market.

persona-runtime already records every generation with the layers it ran
(``OutcomeRecorded``); the meter is a projection over those records, so it
resumes where it stopped (its checkpoint commits with its rows) and a
rebuild re-sends reports the market has already charged, which charge
nothing (a report's id is derived from the record's id and the layer).

Each report is signed by this node's key: the node answers for what it ran.
It names the account holding the licence on this node (the earliest, when
several do) and the per-use price the node saw listed, which caps the
charge. A layer that is not listed, or free, or that no account here holds
a licence for, is not charged (and is counted as such). A report the
market refuses for lack of funds raises, so after the runner's retries it
is dead-lettered with the reason, to be redriven once the wallet is topped
up: a use is never silently dropped.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from nacl.signing import SigningKey

from continuum.events.persona import OutcomeRecorded
from continuum.genome import LayerError, split_ref
from continuum.market.book import MarketBook
from continuum.market.documents import UsageReport, sign
from continuum.projections import Projection, Subscription
from continuum.runtime.timestamps import event_time
from continuum.store import StoredEvent

log = logging.getLogger("continuum.market.meter")

#: Sends a signed report to the market: (document, signature) -> its answer.
Submit = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


class MarketNotReady(TimeoutError):
    """The market is still starting (transient: the runner retries, never dead-letters)."""


class MeterProjection(Projection):
    name = "layer-meter"
    schema = "marketplace"
    subscriptions = (Subscription("EVT_PERSONA", ("evt.persona.persona.*",)),)

    def __init__(self) -> None:
        self.book: MarketBook | None = None
        self.submit: Submit | None = None
        self._key: SigningKey | None = None
        self._node = ""

    def attach(self, book: MarketBook, submit: Submit, key: SigningKey, node: str) -> None:
        """Start metering (until then, records wait: the runner retries them)."""
        self._key, self._node = key, node
        self.book, self.submit = book, submit

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS marketplace.metered (
                report text PRIMARY KEY,
                layer text NOT NULL,
                account text NOT NULL,
                uses bigint NOT NULL,
                charged bigint NOT NULL,
                at timestamptz NOT NULL DEFAULT now()
            );
            CREATE TABLE IF NOT EXISTS marketplace.unmetered (
                layer text PRIMARY KEY,
                uses bigint NOT NULL,
                reason text NOT NULL
            );
            """
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE marketplace.metered, marketplace.unmetered")

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        payload = event.event.payload
        if not isinstance(payload, OutcomeRecorded) or not payload.genome:
            return
        if payload.status not in ("complete", "interrupted"):
            return  # a failed or abandoned generation is not a use
        if self.book is None or self.submit is None or self._key is None:
            raise MarketNotReady("the market is starting")
        for active in payload.genome:
            try:
                layer, version = split_ref(active.layer)
            except LayerError:
                continue
            listing = self.book.listings.get(layer)
            if listing is None or listing.event.terms.per_use == 0:
                continue
            holders = sorted(
                (
                    lic
                    for lic in self.book.licences.values()
                    if lic.node == self._node and lic.layer.split("@", 1)[0] == layer
                ),
                key=lambda lic: lic.transaction,
            )
            if not holders:
                await conn.execute(
                    """INSERT INTO marketplace.unmetered VALUES ($1, 1, 'no licence on this node')
                    ON CONFLICT (layer) DO UPDATE SET uses = marketplace.unmetered.uses + 1""",
                    layer,
                )
                continue
            report = UsageReport(
                id="use-"
                + hashlib.sha256(f"{event.event.envelope.id}|{layer}".encode()).hexdigest()[:40],
                node=self._node,
                account=holders[0].account,
                layer=f"{layer}@{version}",
                uses=1,
                per_use=listing.event.terms.per_use,
                at=event_time(event.event.envelope),
            )
            answer = await self.submit(report.model_dump(mode="json"), sign(report, self._key))
            await conn.execute(
                """INSERT INTO marketplace.metered (report, layer, account, uses, charged)
                VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                report.id,
                report.layer,
                report.account,
                report.uses,
                int(answer.get("charged", 0)),
            )
