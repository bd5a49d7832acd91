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
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from nacl.signing import SigningKey

from continuum.events.persona import OutcomeRecorded
from continuum.genome import LayerError, split_ref
from continuum.market.book import MarketBook
from continuum.market.documents import UsageReport, sign
from continuum.projections import Projection, Subscription
from continuum.runtime.requests import ServiceRequestError
from continuum.runtime.timestamps import event_time
from continuum.store import StoredEvent

log = logging.getLogger("continuum.market.meter")


class MarketView(Protocol):
    """What the meter needs of the market this node uses (its own, or a peer's)."""

    async def per_use(self, layer: str) -> int | None:
        """The listed per-use price of ``layer`` (None: not listed)."""
        ...

    async def holder(self, node: str, layer: str) -> str | None:
        """The account whose licence covers ``layer`` on ``node`` (the earliest)."""
        ...

    async def submit(self, document: dict[str, Any], signature: str) -> dict[str, Any]: ...


class LocalView:
    """This node's own market."""

    def __init__(
        self,
        book: MarketBook,
        submit: Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]],
    ) -> None:
        self._book = book
        self._submit = submit

    async def per_use(self, layer: str) -> int | None:
        listing = self._book.listings.get(layer)
        return None if listing is None else listing.event.terms.per_use

    async def holder(self, node: str, layer: str) -> str | None:
        on_node = [
            lic
            for account in self._book.holders.get(layer, ())
            if (lic := self._book.licence(account, node, layer)) is not None
        ]
        return min(on_node, key=lambda lic: lic.transaction).account if on_node else None

    async def submit(self, document: dict[str, Any], signature: str) -> dict[str, Any]:
        return await self._submit(document, signature)


class RemoteView:
    """A peer's market, asked through this node's gateway (which seals the
    requests to it); answers are kept a few seconds, so a burst of uses
    costs one question."""

    TTL_S = 5.0

    def __init__(self, ask: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]) -> None:
        self._ask = ask
        self._prices: dict[str, tuple[float, int | None]] = {}
        self._licences: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    async def per_use(self, layer: str) -> int | None:
        now = time.monotonic()
        cached = self._prices.get(layer)
        if cached is None or now - cached[0] > self.TTL_S:
            try:
                listing = await self._ask("show", {"layer": layer})
                price: int | None = int(listing["terms"]["per_use"])
            except ServiceRequestError as exc:
                if exc.code != 404:
                    raise
                price = None
            cached = self._prices[layer] = (now, price)
        return cached[1]

    async def holder(self, node: str, layer: str) -> str | None:
        now = time.monotonic()
        cached = self._licences.get(node)
        if cached is None or now - cached[0] > self.TTL_S:
            reply = await self._ask("licences", {"node": node})
            cached = self._licences[node] = (now, list(reply.get("licences", [])))
        holders = sorted(
            (lic for lic in cached[1] if str(lic["layer"]).split("@", 1)[0] == layer),
            key=lambda lic: str(lic["transaction"]),
        )
        return str(holders[0]["account"]) if holders else None

    async def submit(self, document: dict[str, Any], signature: str) -> dict[str, Any]:
        try:
            return await self._ask("usage", {"document": document, "signature": signature})
        except ServiceRequestError as exc:
            if exc.code in (403, 404):  # unlicensed or delisted meanwhile: not a charge
                log.warning("usage not charged: %s", exc)
                return {"charged": 0}
            raise


class MarketNotReady(TimeoutError):
    """The market is still starting (transient: the runner retries, never dead-letters)."""


class MeterProjection(Projection):
    name = "layer-meter"
    schema = "marketplace"
    subscriptions = (Subscription("EVT_PERSONA", ("evt.persona.persona.*",)),)

    def __init__(self) -> None:
        self.market: MarketView | None = None
        self._key: SigningKey | None = None
        self._node = ""

    def attach(self, market: MarketView, key: SigningKey, node: str) -> None:
        """Start metering (until then, records wait: the runner retries them)."""
        self._key, self._node = key, node
        self.market = market

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
        if self.market is None or self._key is None:
            raise MarketNotReady("the market is starting")
        for active in payload.genome:
            try:
                layer, version = split_ref(active.layer)
            except LayerError:
                continue
            per_use = await self.market.per_use(layer)
            if not per_use:
                continue  # not listed, or free to use
            account = await self.market.holder(self._node, layer)
            if account is None:
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
                account=account,
                layer=f"{layer}@{version}",
                uses=1,
                per_use=per_use,
                at=event_time(event.event.envelope),
            )
            answer = await self.market.submit(
                report.model_dump(mode="json"), sign(report, self._key)
            )
            await conn.execute(
                """INSERT INTO marketplace.metered (report, layer, account, uses, charged)
                VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING""",
                report.id,
                report.layer,
                report.account,
                report.uses,
                int(answer.get("charged", 0)),
            )
