"""What the market does, behind small interfaces: list, buy, rent, charge a
use, grant, refund, rate, search, suggest a price.

Every money movement is one ledger transaction through the journal (which
makes it whole-or-nothing and once per id); what a purchase buys (the
licence) lands in the same atomic append. Listings and ratings are events
on the market's log; the book folds them back, so this class holds no state
of its own beyond the book it is given.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from continuum.events.codec import EventFactory
from continuum.events.genome import LayerManifest
from continuum.events.market import (
    Ancestor,
    LayerRated,
    LicenceGranted,
    ListingPublished,
    ListingWithdrawn,
)
from continuum.genome import LayerError, verify_manifest
from continuum.market.book import DAY, Listing, MarketBook, Standing, UnknownListing, licence_id
from continuum.market.documents import (
    Offer,
    Order,
    RatingNote,
    UsageReport,
    open_signed,
)
from continuum.market.journal import LedgerJournal, Recorded
from continuum.market.ledger import (
    MINT,
    InsufficientFunds,
    LedgerError,
    Transaction,
    format_units,
)
from continuum.market.pricing import Suggestion, suggest_per_use
from continuum.market.splits import Terms, split_payment
from continuum.store.base import ConcurrencyError


class MarketError(LedgerError):
    """A request the market refuses; ``status`` is the HTTP-like code."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Ordered:
    licence: LicenceGranted
    #: Units the order cost (charged once, however often it is sent).
    amount: int
    duplicate: bool
    #: Where it landed on the market's stream (0: nothing new).
    seq: int = 0


class Registry(Protocol):
    """The genome-registry, as the market needs it."""

    async def manifest(self, layer: str, version: str) -> tuple[LayerManifest, str]: ...

    async def lineage(self, layer: str, version: str) -> list[tuple[str, str]]: ...

    async def search(self, query: str, k: int) -> list[tuple[str, float]]: ...


#: Appends one market event (aggregate id, expected version or None); returns its seq.
Append = Callable[[BaseModel, str, int | None], Awaitable[int]]
#: The latest licence event of a licence id and its version, read from the log itself.
LicenceLog = Callable[[str], Awaitable[tuple[LicenceGranted, int] | None]]


def scoped_id(kind: str, signer: str, document_id: str) -> str:
    """The ledger id of a document's payment: its id within its signer's ids.
    Ids are chosen by whoever signs (an order's wallet, a report's node), so
    one signer's id must not be able to take another's transaction first."""
    digest = hashlib.sha256(f"{signer}|{document_id}".encode()).hexdigest()[:40]
    return f"{kind}-{digest}"


def derived_id(prefix: str, source: str) -> str:
    """A transaction id derived from another (a refund of a purchase), within the id limit."""
    candidate = f"{prefix}-{source}"
    if len(candidate) <= 128:
        return candidate
    return f"{prefix}-{hashlib.sha256(source.encode()).hexdigest()[:40]}"


@dataclass(frozen=True)
class SentManifests:
    """Signed manifests a creator on another node sent with an offer, each
    believed only if its creator's signature verifies: the market's registry
    for one listing."""

    manifests: dict[str, LayerManifest]

    #: How many manifests one offer may carry (the layer and its ancestors).
    LIMIT = 64

    @classmethod
    def of(cls, sent: Sequence[Any]) -> SentManifests:
        if not isinstance(sent, list | tuple) or len(sent) > cls.LIMIT:
            raise MarketError(f"manifests must be a list of at most {cls.LIMIT}")
        found: dict[str, LayerManifest] = {}
        for item in sent:
            if not isinstance(item, dict):
                raise MarketError("each manifest is {manifest, signature}")
            try:
                manifest = LayerManifest.model_validate(item.get("manifest"))
                verify_manifest(manifest, str(item.get("signature") or ""))
            except ValidationError as exc:
                raise MarketError(f"a sent manifest is invalid: {exc.errors()[0]['msg']}") from None
            except LayerError as exc:
                raise MarketError(f"a sent manifest does not verify: {exc}") from None
            found[manifest.ref] = manifest
        return cls(found)

    async def manifest(self, layer: str, version: str) -> tuple[LayerManifest, str]:
        matching = [
            m for m in self.manifests.values()
            if m.name == layer and version in ("latest", m.version)
        ]  # fmt: skip
        if len(matching) != 1:
            raise MarketError(f"{layer}@{version}: send its signed manifest with the offer", 404)
        return matching[0], ""

    async def lineage(self, layer: str, version: str) -> list[tuple[str, str]]:
        edges, frontier, seen = [], [f"{layer}@{version}"], set()
        while frontier:
            ref = frontier.pop()
            if ref in seen or ref not in self.manifests:
                continue
            seen.add(ref)
            for parent in self.manifests[ref].parents:
                edges.append((ref, parent))
                frontier.append(parent)
        return edges

    async def search(self, query: str, k: int) -> list[tuple[str, float]]:
        return []


class Market:
    def __init__(
        self,
        book: MarketBook,
        journal: LedgerJournal,
        factory: EventFactory,
        append: Append,
        registry: Registry,
        node: str,
        terms: Terms,
        clock: Callable[[], float] = time.time,
        licence_log: LicenceLog | None = None,
    ) -> None:
        self.book = book
        self.journal = journal
        self.factory = factory
        self._append = append
        self.registry = registry
        self.node = node
        self.terms = terms
        self.clock = clock
        self._licence_log = licence_log

    async def licence(self, account: str, node: str, layer: str) -> LicenceGranted | None:
        """The licence from the book, else from the log: the book may not
        have folded a licence granted a moment ago (its follower catching up
        after a NATS restart), and a use must not be refused for that."""
        found = self.book.licences.get(licence_id(account, node, layer))
        if found is None:
            found, _ = await self._licence_version(account, node, layer)
        return found

    async def _licence_version(
        self, account: str, node: str, layer: str
    ) -> tuple[LicenceGranted | None, int | None]:
        """The licence and its version from the log (an order must find the
        licence where it expects it); without a log, the book's, unchecked."""
        lid = licence_id(account, node, layer)
        if self._licence_log is None:
            return self.book.licences.get(lid), None
        found = await self._licence_log(lid)
        return (found[0], found[1]) if found is not None else (None, 0)

    # -- listings -----------------------------------------------------------------------

    async def sell(
        self,
        document: Any,
        signature: Any,
        via: str | None = None,
        manifests: Sequence[Any] | None = None,
    ) -> ListingPublished:
        """List a layer. Its manifest (and its ancestors', for royalties) come
        from this node's registry, or, for a creator on another node
        (``via``: the node that relayed the offer over the mesh), from the
        signed manifests sent along, each checked against its creator's
        signature; the listing then names that node as where the weights are."""
        offer = open_signed(Offer, document, signature)
        if offer.action != "list":
            raise MarketError("this offer withdraws a listing: send it to delist")
        source: Registry = self.registry
        if via is not None and via != self.node:
            source = SentManifests.of(manifests or [])
        manifest, _ = await source.manifest(offer.layer, offer.version)
        if manifest.creator != offer.creator:
            raise MarketError(
                f"{manifest.ref} was created by {manifest.creator[:12]}…, not by the offer's "
                f"signer {offer.creator[:12]}…: only a layer's creator lists it",
                403,
            )
        lineage = await self._lineage(manifest, source)
        event = ListingPublished(
            version=manifest.version,
            creator=offer.creator,
            terms=offer.terms,
            license=offer.license or manifest.license,
            offer=document,
            signature=signature,
            description=manifest.description,
            domains=manifest.domains,
            base_model=manifest.base_model,
            lineage=lineage,
            node=via or self.node,
        )
        await self._append(event, offer.layer, None)
        return event

    async def _lineage(self, manifest: LayerManifest, source: Registry) -> list[Ancestor]:
        """The layer and its ancestors with their creators, as listed: the
        royalties of every later use follow this, whatever the registry says later."""
        edges = await source.lineage(manifest.name, manifest.version)
        parents: dict[str, list[str]] = {manifest.ref: list(manifest.parents)}
        for child, parent in edges:
            parents.setdefault(child, [])
            if parent not in parents[child]:
                parents[child].append(parent)
        found = [Ancestor(layer=manifest.ref, creator=manifest.creator, parents=manifest.parents)]
        for ref in dict.fromkeys(p for ps in parents.values() for p in ps):
            name, _, version = ref.partition("@")
            try:
                ancestor, _ = await source.manifest(name, version)
            except MarketError:
                continue  # from another node's log: no known creator, its share stays below
            found.append(
                Ancestor(layer=ref, creator=ancestor.creator, parents=list(ancestor.parents))
            )
        known = {a.layer for a in found}
        return [
            a.model_copy(update={"parents": [p for p in a.parents if p in known]}) for a in found
        ]

    async def delist(self, document: Any, signature: Any) -> str:
        offer = open_signed(Offer, document, signature)
        if offer.action != "delist":
            raise MarketError("this offer lists a layer: send it to sell")
        listing = self.book.listing(offer.layer)
        if listing.event.creator != offer.creator:
            raise MarketError(f"only {offer.layer}'s creator may delist it", 403)
        withdrawn = ListingWithdrawn(creator=offer.creator, signature=signature, offer=document)
        await self._append(withdrawn, offer.layer, None)
        return offer.layer

    # -- money --------------------------------------------------------------------------

    def _split(self, listing: Listing, amount: int, payer: str) -> dict[str, int]:
        lineage = {a.layer: a for a in listing.event.lineage}

        def of(ref: str) -> tuple[str, Sequence[str]]:
            ancestor = lineage[ref]
            return ancestor.creator, ancestor.parents

        amounts: dict[str, int] = {payer: -amount}
        for account, units in split_payment(amount, listing.ref, of, self.terms).items():
            amounts[account] = amounts.get(account, 0) + units
        return amounts

    async def order(self, document: Any, signature: Any) -> Ordered:
        order = open_signed(Order, document, signature)
        listing = self.book.listing(order.layer)
        terms = listing.event.terms
        now = self.clock()
        if order.kind == "rent":
            if not terms.rent:
                raise MarketError(f"{order.layer} is not for rent; buy it")
            amount, kind = terms.rent, "rented"
            held, _ = await self._licence_version(order.account, order.node, order.layer)
            start = max(now, held.until or 0) if held and held.kind == "rented" else now
            until: float | None = start + terms.period_days * DAY
        else:
            amount, kind, until = terms.price, ("free" if terms.free else "bought"), None
        if amount > order.max_units:
            raise MarketError(
                f"{order.layer} costs {format_units(amount)} credits; the order allows at most "
                f"{format_units(order.max_units)}",
                409,
            )
        transaction = scoped_id("order", order.account, order.id)
        licence = LicenceGranted(
            account=order.account,
            node=order.node,
            layer=listing.ref,
            kind=kind,
            until=until,
            transaction=transaction,
            order=document,
            signature=signature,
        )
        lid = licence_id(order.account, order.node, order.layer)
        existing, version = await self._licence_version(order.account, order.node, order.layer)
        if existing is not None and existing.transaction == transaction:
            return Ordered(existing, amount, True)  # a re-sent order: charged once
        if existing is not None and existing.kind != "rented" and order.kind == "buy":
            raise MarketError(
                f"{order.account[:12]}… already holds {order.layer} on that node", 409
            )
        taken = f"{order.account[:12]}… got {order.layer} on that node meanwhile; look again"
        if amount == 0:
            try:
                seq = await self._append(licence, lid, version)
            except ConcurrencyError:
                raise MarketError(taken, 409) from None
            return Ordered(licence, 0, False, seq)
        tx = Transaction.of(
            transaction,
            "purchase" if order.kind == "buy" else "rental",
            self._split(listing, amount, order.account),
            memo=f"{order.kind} {listing.ref}",
            layer=listing.ref,
        )
        envelope = self.factory.new(licence, lid)
        try:
            recorded = await self.journal.record(tx, order.account, also=[(envelope, version)])
        except ConcurrencyError:  # another order for the same licence landed first
            raise MarketError(taken, 409) from None
        return Ordered(licence, amount, recorded.duplicate, recorded.seq)

    async def charge_use(self, document: Any, signature: Any) -> dict[str, Any]:
        report = open_signed(UsageReport, document, signature)
        layer = report.layer.split("@", 1)[0]
        if layer not in self.book.listings:
            raise MarketError(f"unknown layer {layer}: not listed on this market", 404)
        listing = self.book.listings[layer]
        licence = await self.licence(report.account, report.node, layer)
        if licence is None and not listing.event.terms.free:
            raise MarketError(
                f"{report.account[:12]}… holds no licence for {layer} on node "
                f"{report.node[:12]}…; nothing was charged",
                403,
            )
        free_until = licence.until if licence is not None and licence.kind == "rented" else None
        per_use = min(report.per_use, listing.event.terms.per_use)
        if per_use == 0 or (free_until is not None and report.at <= free_until):
            return {"report": report.id, "charged": 0, "duplicate": False}
        amount = per_use * report.uses
        tx = Transaction.of(
            scoped_id("use", report.node, report.id),
            "use",
            self._split(listing, amount, report.account),
            memo=f"{report.uses} use(s) of {report.layer} on {report.node[:12]}",
            layer=listing.ref,
            quantity=report.uses,
        )
        recorded = await self.journal.record(tx, report.node)
        return {
            "report": report.id,
            "transaction": tx.id,
            "charged": amount,
            "duplicate": recorded.duplicate,
        }

    async def charge_compute(
        self, transaction: str, payer: str, payee: str, units: int, memo: str
    ) -> Recorded:
        """A routed generation's price: the asking node pays the serving one
        (the platform's share too); the id is the generation's, so a
        failover's second attempt is not a second charge."""
        platform = units * self.terms.platform_bp // 10_000
        amounts = {payer: -units, payee: units - platform}
        if platform:
            amounts["platform"] = amounts.get("platform", 0) + platform
        tx_id = scoped_id("compute", payer, transaction)
        return await self.journal.record(Transaction.of(tx_id, "compute", amounts, memo), payer)

    async def grant(
        self, account: str, units: int, reason: str, by: str, grant_id: str
    ) -> Recorded:
        if units <= 0:
            raise MarketError("a grant is a positive number of credits")
        tx = Transaction.of(grant_id, "grant", {MINT: -units, account: units}, memo=reason)
        return await self.journal.record(tx, by)

    async def refund(self, transaction: str, reason: str, by: str) -> Recorded:
        found = await self.journal.transaction(transaction)
        if found is None:
            raise MarketError(f"no transaction {transaction}", 404)
        if found.kind not in ("purchase", "rental", "use", "compute"):
            raise MarketError(f"a {found.kind} cannot be refunded")
        reversed_ = {leg.account: -leg.amount for leg in found.legs}
        tx = Transaction.of(
            derived_id("refund", transaction),
            "refund",
            reversed_,
            memo=f"refund of {transaction}: {reason}"[:500],
            layer=found.layer,
        )
        return await self.journal.record(tx, by)

    # -- ratings, reputation, search, prices --------------------------------------------

    async def rate(self, document: Any, signature: Any, via: str | None = None) -> LayerRated:
        """A signed rating, counted under the node it came through (``via``:
        the peer that relayed it over the mesh; else this node): a rater
        cannot pick which node's voice it joins."""
        note = open_signed(RatingNote, document, signature)
        came_through = via or self.node
        if note.node != came_through:
            raise MarketError(
                f"the rating says it came through node {note.node[:12]}…, but it came "
                f"through {came_through[:12]}…"
            )
        listing = self.book.listing(note.layer)
        rated = LayerRated(
            rater=note.rater,
            node=note.node,
            score=note.score,
            version=listing.event.version,
            document=document,
            signature=signature,
        )
        await self._append(rated, note.layer, None)
        return rated

    def standing(self, layer: str) -> Standing:
        return self.book.standing(layer, self.clock())

    async def search(
        self, query: str, k: int, weights: tuple[float, float, float]
    ) -> list[dict[str, Any]]:
        """Listings by capability: the registry's embedding similarity,
        blended with reputation and cheapness (ADR 0019's weights)."""
        found = await self.registry.search(query, max(k * 3, 20))
        listed = [(self.book.listings.get(layer), score) for layer, score in found]
        candidates = [(x, s) for x, s in listed if x is not None and not x.withdrawn]
        if not candidates:
            return []
        prices = [effective_price(x) for x, _ in candidates]
        top = max(prices) or 1
        w_sim, w_rep, w_price = weights
        ranked = []
        for (listing, similarity), price in zip(candidates, prices, strict=True):
            standing = self.standing(listing.layer)
            rank = w_sim * similarity + w_rep * standing.score + w_price * (1 - price / top)
            ranked.append((rank, listing, similarity, standing))
        ranked.sort(key=lambda r: -r[0])
        return [
            {**describe(listing, standing), "similarity": round(sim, 4), "rank": round(rank, 4)}
            for rank, listing, sim, standing in ranked[:k]
        ]

    async def suggest(self, layer: str) -> Suggestion:
        listing = self.book.listing(layer)
        similar = await self.registry.search(listing.event.description, 20)
        prices = [
            other.event.terms.per_use
            for name, score in similar
            if name != layer
            and score >= 0.5
            and (other := self.book.listings.get(name)) is not None
            and not other.withdrawn
            and other.event.terms.per_use
        ]
        recent, before = self.book.demand(layer, self.clock())
        return suggest_per_use(listing.event.terms.per_use, prices, recent, before)


def effective_price(listing: Listing) -> int:
    """One number to compare listings by: the per-use price, else the price of owning it
    spread over a thousand uses, else the rent."""
    terms = listing.event.terms
    return terms.per_use or terms.price // 1000 or terms.rent // 1000


def describe(listing: Listing, standing: Standing | None = None) -> dict[str, Any]:
    event = listing.event
    out: dict[str, Any] = {
        "layer": listing.layer,
        "version": event.version,
        "creator": event.creator,
        "node": event.node,
        "description": event.description,
        "domains": event.domains,
        "base_model": event.base_model,
        "license": event.license,
        "terms": event.terms.model_dump(),
        "free": event.terms.free,
        "lineage": [a.model_dump() for a in event.lineage],
        "listed_at": listing.listed_at,
        "withdrawn": listing.withdrawn,
    }
    if standing is not None:
        out["reputation"] = describe_standing(standing)
    return out


def describe_standing(standing: Standing) -> dict[str, Any]:
    return {
        "score": round(standing.score, 4),
        "mean": round(standing.mean, 4),
        "weight": round(standing.weight, 3),
        "ratings": {
            "voters": standing.ratings.voters,
            "mean": round(standing.ratings.mean, 4),
            "consensus": round(standing.ratings.consensus, 4),
        },
        "academy": None if standing.academy is None else round(standing.academy, 4),
        "academy_observations": round(standing.academy_n, 2),
        "retention": None if standing.retention is None else round(standing.retention, 4),
        "holders": standing.holders,
    }


def as_error(exc: LedgerError) -> MarketError:
    """The market's refusal for a domain error, with the status a caller acts on."""
    if isinstance(exc, MarketError):
        return exc
    if isinstance(exc, UnknownListing):
        return MarketError(str(exc), 404)
    if isinstance(exc, InsufficientFunds):
        return MarketError(f"insufficient funds: {exc}", 402)
    return MarketError(str(exc), 400)
