"""Orders through the marketplace's domain on a real JetStream: two
different orders racing for one licence pay once; a re-sent order pays
once; the licence and its payment land together."""

from __future__ import annotations

import asyncio
import time

from nacl.signing import SigningKey

from continuum.events import EventFactory
from continuum.events.market import Ancestor, ListingPublished, ListingTerms
from continuum.genome.manifest import creator_of
from continuum.market.book import MarketBook
from continuum.market.documents import Order, signed
from continuum.market.journal import LedgerJournal
from continuum.market.ledger import MINT, Transaction
from continuum.market.splits import Terms
from continuum.store import JetStreamEventStore
from continuum_marketplace.market import Market, MarketError, scoped_id


async def _market(store: JetStreamEventStore, factory: EventFactory) -> Market:
    book = MarketBook()
    creator = creator_of(SigningKey.generate())
    listing = ListingPublished(
        version="1.0.0", creator=creator, terms=ListingTerms(price=300), license="mit",
        offer={}, signature="x", description="d", base_model="builtin",
        lineage=[Ancestor(layer="sql@1.0.0", creator=creator)], node=creator,
    )  # fmt: skip
    book.apply("sql", listing, time.time())

    async def licence_log(lid: str) -> tuple[object, int] | None:
        stored = await store.last(f"evt.market.licence.{lid}")
        return None if stored is None else (stored.event.payload, stored.seq)

    async def append(event: object, aggregate: str, expected: int | None) -> int:
        result = await store.append([factory.new(event, aggregate)], expected)  # type: ignore[arg-type]
        return result.version

    journal = LedgerJournal(store, factory)
    return Market(
        book, journal, factory, append, None, creator, Terms(),  # type: ignore[arg-type]
        licence_log=licence_log,  # type: ignore[arg-type]
    )  # fmt: skip


async def test_two_orders_racing_for_one_licence_pay_once(
    store: JetStreamEventStore, factory: EventFactory
) -> None:
    market = await _market(store, factory)
    wallet = SigningKey.generate()
    account, node = creator_of(wallet), creator_of(SigningKey.generate())
    await market.journal.record(
        Transaction.of("fund", "grant", {MINT: -10_000, account: 10_000}), by="admin"
    )

    def order(order_id: str) -> dict[str, object]:
        doc = Order(id=order_id, kind="buy", layer="sql", account=account, node=node,
                    max_units=300, at=time.time())  # fmt: skip
        return signed(doc, wallet)

    bodies = [order(f"order-{i}") for i in range(6)]
    results = await asyncio.gather(
        *(market.order(b["document"], b["signature"]) for b in bodies), return_exceptions=True
    )
    landed = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(landed) == 1, results
    assert all(isinstance(r, MarketError) and r.status == 409 for r in refused), refused
    assert await market.journal.balance(account) == 10_000 - 300
    winner = landed[0].licence.transaction
    again = next(b for b in bodies if scoped_id("order", account, b["document"]["id"]) == winner)  # type: ignore[index]
    resent = await market.order(again["document"], again["signature"])
    assert resent.duplicate and await market.journal.balance(account) == 10_000 - 300
