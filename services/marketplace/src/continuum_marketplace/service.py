"""The marketplace service, wired to NATS, the event log and PostgreSQL.

Endpoints (``cmd.marketplace.<op>``, see ``continuum.contracts``): sell,
delist, listings, show, search, order, usage, rate, wallet, statement,
grant, refund, compute, licences, price, audit. It folds the market's log
(and the academy's, for scores) into a :class:`MarketBook` on start and
follows it; money moves only through the ledger journal; statements come
from the ``market-ledger`` read model. The meter reports this node's uses of
licensed layers to the market (ADR 0019).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from continuum import contracts
from continuum.contracts import command
from continuum.contracts.commands import (
    AccountRef,
    ComputeCharge,
    Grant,
    Licences,
    ListingRef,
    Listings,
    MarketSearch,
    Refund,
    SignedDocument,
)
from continuum.events.genome import LayerManifest
from continuum.events.market import LicenceGranted
from continuum.market.book import Listing, MarketBook
from continuum.market.journal import LedgerJournal
from continuum.market.ledger import MINT, LedgerError, format_units
from continuum.market.splits import Terms
from continuum.projections import Projection
from continuum.runtime import RequestError, Service, ServiceContext
from continuum.runtime.follow import LogFollower
from continuum.runtime.requests import ServiceRequestError
from continuum.runtime.timestamps import event_time
from continuum.store.base import StoredEvent
from continuum_marketplace.market import (
    Market,
    MarketError,
    as_error,
    describe,
    describe_standing,
)
from continuum_marketplace.meter import (
    LocalView,
    MarketNotReady,
    MarketView,
    MeterProjection,
    RemoteView,
)
from continuum_marketplace.settings import MarketSettings
from continuum_marketplace.statements import SCHEMA, StatementsProjection, statement, totals

log = logging.getLogger("continuum.market")


class RegistryClient:
    """The genome-registry's commands, as :class:`Registry`."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def _ask(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            return await self._ctx.request(f"cmd.genome-registry.{op}", body, timeout=30)
        except ServiceRequestError as exc:
            raise MarketError(str(exc), exc.code if exc.code in (400, 404) else 502) from None

    async def manifest(self, layer: str, version: str) -> tuple[LayerManifest, str]:
        reply = await self._ask("manifest", {"layer": layer, "version": version})
        return LayerManifest.model_validate(reply["manifest"]), str(reply["signature"])

    async def lineage(self, layer: str, version: str) -> list[tuple[str, str]]:
        reply = await self._ask("lineage", {"layer": layer, "version": version})
        return [(a["child"], a["parent"]) for a in reply.get("ancestors", [])]

    async def search(self, query: str, k: int) -> list[tuple[str, float]]:
        reply = await self._ask("search", {"query": query, "k": min(k, 100)})
        best: dict[str, float] = {}
        for result in reply.get("results", []):
            layer, score = str(result["id"]), float(result["score"])
            best[layer] = max(score, best.get(layer, -1.0))
        return sorted(best.items(), key=lambda item: -item[1])


class MarketplaceService(Service):
    name = "marketplace"
    description = "Layer listings, wallets, per-use royalties, reputation, demand pricing"
    schema = SCHEMA

    def __init__(self) -> None:
        self.settings = MarketSettings()
        self.book = MarketBook()
        self._followers: list[LogFollower] = []
        self.meter = MeterProjection()

    def projections(self) -> Sequence[Projection]:
        return (StatementsProjection(), self.meter)

    def health_details(self) -> dict[str, Any]:
        return {"listings": len(self.book.active()), "licences": len(self.book.licences)}

    async def on_start(self, ctx: ServiceContext) -> None:
        s = self.settings
        self.journal = LedgerJournal(ctx.store, ctx.factory)

        async def append(event: BaseModel, aggregate: str, expected: int | None) -> int:
            result = await ctx.store.append([ctx.factory.new(event, aggregate)], expected)
            await self._followers[0].reached(result.version)  # answer with it visible
            return result.version

        async def licence_log(lid: str) -> tuple[LicenceGranted, int] | None:
            stored = await ctx.store.last(f"evt.market.licence.{lid}")
            if stored is None or not isinstance(stored.event.payload, LicenceGranted):
                return None
            return stored.event.payload, stored.seq

        self.market = Market(
            self.book,
            self.journal,
            ctx.factory,
            append,
            RegistryClient(ctx),
            ctx.identity.node_id,
            Terms(s.platform_bp, s.royalty_bp),
            licence_log=licence_log,
        )

        async def fold(stored: StoredEvent, live: bool) -> None:
            envelope = stored.event.envelope
            self.book.apply(envelope.subject, stored.event.payload, event_time(envelope))

        for stream, subject in (("EVT_MARKET", "evt.market.>"), ("EVT_ACADEMY", "evt.academy.>")):
            follower = ctx.follower(stream, subject, fold)
            await follower.start()
            self._followers.append(follower)
        for follower in self._followers:
            await follower.caught_up(timeout=600)
        log.info(
            "market: %d listings, %d licences", len(self.book.active()), len(self.book.licences)
        )
        await self._register(ctx)

        async def submit(document: dict[str, Any], signature: str) -> dict[str, Any]:
            try:
                return await self.market.charge_use(document, signature)
            except LedgerError as exc:
                error = as_error(exc)
                if error.status in (403, 404):  # unlicensed or delisted meanwhile: not a charge
                    log.warning("usage not charged: %s", error)
                    return {"charged": 0}
                raise error from None

        async def relay(op: str, body: dict[str, Any]) -> dict[str, Any]:
            try:
                return await ctx.request("cmd.gateway.market", {"op": op, "body": body}, timeout=45)
            except ServiceRequestError as exc:
                if exc.code >= 500:  # the market node is away: wait for it, never dead-letter
                    raise MarketNotReady(f"the market is unreachable: {exc.message}") from None
                raise

        view: MarketView = (
            RemoteView(relay) if ctx.settings.market else LocalView(self.book, submit)
        )
        self.meter.attach(view, ctx.identity.signing_key, ctx.identity.node_id)

    async def on_stop(self, ctx: ServiceContext) -> None:
        for follower in self._followers:
            await follower.stop()

    async def _register(self, ctx: ServiceContext) -> None:
        market, book, settings = self.market, self.book, self.settings

        async def guarded(action: Any) -> Any:
            try:
                return await action
            except LedgerError as exc:
                raise refusal(exc) from None

        def listed(layer: str) -> Listing:
            try:
                return book.listing(layer)
            except LedgerError as exc:
                raise refusal(exc) from None

        async def sell(r: SignedDocument) -> dict[str, Any]:
            extra = r.model_extra or {}
            via, manifests = extra.get("via"), extra.get("manifests")
            event = await guarded(
                market.sell(
                    r.document,
                    r.signature,
                    via if isinstance(via, str) else None,
                    manifests if isinstance(manifests, list) else None,
                )
            )
            layer = str(r.document["layer"])
            return describe(book.listing(layer), market.standing(layer)) | {"listed": event.version}

        async def delist(r: SignedDocument) -> dict[str, Any]:
            layer = await guarded(market.delist(r.document, r.signature))
            return {"layer": layer, "withdrawn": True}

        async def listings(r: Listings) -> dict[str, Any]:
            found = [
                listing
                for listing in book.listings.values()
                if (r.include_withdrawn or not listing.withdrawn)
                and (r.creator is None or listing.event.creator == r.creator)
            ]
            found.sort(key=lambda listing: -listing.listed_at)
            page = found[r.offset : r.offset + r.limit]
            return {
                "listings": [describe(listing, market.standing(listing.layer)) for listing in page],
                "count": len(found),
            }

        async def show(r: ListingRef) -> dict[str, Any]:
            listing = listed(r.layer)
            recent, before = book.demand(r.layer, market.clock())
            return describe(listing, market.standing(r.layer)) | {
                "uses_7d": recent,
                "uses_prev_7d": before,
            }

        async def search(r: MarketSearch) -> dict[str, Any]:
            weights = (settings.rank_similarity, settings.rank_reputation, settings.rank_price)
            results = await guarded(market.search(r.query, r.k, weights))
            return {"query": r.query, "results": results}

        async def order(r: SignedDocument) -> dict[str, Any]:
            ordered = await guarded(market.order(r.document, r.signature))
            await self._followers[0].reached(ordered.seq)  # the licence is in the book
            licence = ordered.licence
            return {
                "order": r.document.get("id"),
                "transaction": licence.transaction,
                "licence": licence.model_dump(exclude={"order", "signature"}),
                "charged": format_units(ordered.amount),
                "charged_units": ordered.amount,
                "duplicate": ordered.duplicate,
                "balance": format_units(await self.journal.balance(licence.account)),
            }

        async def usage(r: SignedDocument) -> dict[str, Any]:
            return dict(await guarded(market.charge_use(r.document, r.signature)))

        async def rate(r: SignedDocument) -> dict[str, Any]:
            via = (r.model_extra or {}).get("via")
            rated = await guarded(
                market.rate(r.document, r.signature, via if isinstance(via, str) else None)
            )
            layer = str(r.document["layer"])
            return {"layer": layer, "score": rated.score} | {
                "reputation": describe_standing(market.standing(layer))
            }

        async def wallet(r: AccountRef) -> dict[str, Any]:
            balance = await self.journal.balance(r.account)
            return {
                "account": r.account,
                "balance_units": balance,
                "balance": format_units(balance),
            }

        async def statement_(r: AccountRef) -> dict[str, Any]:
            return await statement(ctx.pool, r.account, r.limit)

        async def grant(r: Grant) -> dict[str, Any]:
            grant_id = r.id or f"grant-{uuid.uuid4().hex}"
            recorded = await guarded(market.grant(r.account, r.units, r.reason, r.by, grant_id))
            log.info(
                "granted %s credits to %s (%s) by %s",
                format_units(r.units),
                r.account,
                r.reason,
                r.by,
            )
            return {
                "transaction": grant_id,
                "account": r.account,
                "granted": format_units(r.units),
                "duplicate": recorded.duplicate,
                "balance": format_units(recorded.balances.get(r.account, 0)),
            }

        async def refund(r: Refund) -> dict[str, Any]:
            recorded = await guarded(market.refund(r.transaction, r.reason, r.by))
            return {
                "refund": recorded.transaction,
                "of": r.transaction,
                "duplicate": recorded.duplicate,
                "balances": {a: format_units(b) for a, b in recorded.balances.items()},
            }

        async def compute(r: ComputeCharge) -> dict[str, Any]:
            recorded = await guarded(
                market.charge_compute(r.transaction, r.payer, r.payee, r.units, r.memo)
            )
            return {"transaction": recorded.transaction, "duplicate": recorded.duplicate}

        async def licences(r: Licences) -> dict[str, Any]:
            keys = book.licences_of(node=r.node, account=r.account)
            return {
                "licences": [
                    book.licences[k].model_dump(exclude={"order", "signature"}) for k in keys
                ]
            }

        async def price(r: ListingRef) -> dict[str, Any]:
            suggestion = await guarded(market.suggest(r.layer))
            listing = listed(r.layer)
            return {
                "layer": r.layer,
                "current": listing.event.terms.per_use,
                "suggested": suggestion.per_use,
                "anchor": suggestion.anchor,
                "similar_listings": suggestion.similar,
                "uses_7d": suggestion.uses_7d,
                "uses_prev_7d": suggestion.uses_prev_7d,
                "demand_factor": suggestion.demand_factor,
                "trend_factor": suggestion.trend_factor,
            }

        async def audit(_: contracts.Empty) -> dict[str, Any]:
            balances = await totals(ctx.pool)
            return {
                "accounts": len(balances),
                "sum": sum(balances.values()),
                "minted": -balances.get(MINT, 0),
                "held": sum(b for a, b in balances.items() if a != MINT),
            }

        for op, handler in (
            ("sell", sell),
            ("delist", delist),
            ("listings", listings),
            ("show", show),
            ("search", search),
            ("order", order),
            ("usage", usage),
            ("rate", rate),
            ("wallet", wallet),
            ("statement", statement_),
            ("grant", grant),
            ("refund", refund),
            ("compute", compute),
            ("licences", licences),
            ("price", price),
            ("audit", audit),
        ):
            await ctx.command(command("marketplace", op), handler)


def refusal(exc: LedgerError) -> RequestError:
    """A domain error as the command's refusal, with the status a caller acts on."""
    error = as_error(exc)
    return RequestError(str(error), error.status)
