"""The ledger on a real JetStream: recorded once, never spending a balance
twice, under racing writers on separate connections."""

from __future__ import annotations

import asyncio
import random
import uuid

import pytest
from nats.aio.client import Client

from continuum.events import EventCodec, EventFactory
from continuum.market.journal import LedgerJournal, transaction_subject
from continuum.market.ledger import MINT, PLATFORM, InsufficientFunds, LedgerError, Transaction
from continuum.market.splits import Terms, split_payment
from continuum.node.embedded import NatsServer
from continuum.runtime.connections import connect_nats
from continuum.store import JetStreamEventStore


def _id() -> str:
    return uuid.uuid4().hex


def grant(account: str, units: int) -> Transaction:
    return Transaction.of(_id(), "grant", {MINT: -units, account: units})


async def test_a_transaction_is_recorded_once_and_whole(
    store: JetStreamEventStore, factory: EventFactory
) -> None:
    journal = LedgerJournal(store, factory)
    user, creator = f"u{_id()[:8]}", f"c{_id()[:8]}"
    await journal.record(grant(user, 1_000), by="admin")
    parts = split_payment(300, "layer", lambda _: (creator, ()), Terms())
    buy = Transaction.of(_id(), "purchase", {user: -300, **parts})
    first = await journal.record(buy, by=user)
    assert not first.duplicate and first.balances[user] == 700 and first.balances[creator] == 270
    await journal.record(grant(user, 50), by="admin")  # the account moves on ...
    again = await journal.record(buy, by=user)  # ... and the purchase is re-sent
    assert again.duplicate and await journal.balance(user) == 750
    assert await journal.balance(creator) == 270
    broke = Transaction.of(_id(), "purchase", {user: -10_000, creator: 10_000})
    with pytest.raises(InsufficientFunds, match=f"{user} has 750 units"):
        await journal.record(broke, by=user)
    assert await store.last(transaction_subject(broke.id)) is None  # nothing written
    with pytest.raises(LedgerError, match="one leg per account"):
        Transaction.of("t", "x", {user: -1, creator: 1}).__class__(
            "t", "x", (buy.legs[0], buy.legs[0])
        )
    with pytest.raises(LedgerError, match="account 'a b'"):
        Transaction.of("t", "x", {"a b": -1, creator: 1})


async def test_racing_purchases_never_spend_a_balance_twice(
    nats_server: NatsServer, codec: EventCodec, factory: EventFactory, nc: Client
) -> None:
    """200 purchases from one wallet (and re-sends of some), on four
    connections at once, worth more than the wallet holds: the ones that
    land add up to at most the grant, each lands once, and every account's
    balance is what its entries say; the ledger sums to zero."""
    user, creator = f"u{_id()[:8]}", f"c{_id()[:8]}"
    clients = [await connect_nats(nats_server.url, name=f"buyer{i}") for i in range(4)]
    journals = [LedgerJournal(JetStreamEventStore(c, codec), factory) for c in clients]
    await journals[0].record(grant(user, 10_000), by="admin")
    rng = random.Random(7)
    purchases = []
    for _ in range(200):
        price = rng.randint(1, 100)
        parts = split_payment(price, "layer", lambda _: (creator, ()), Terms())
        purchases.append(Transaction.of(_id(), "purchase", {user: -price, **parts}))
    sends = purchases + purchases[:20]  # twenty re-sent
    rng.shuffle(sends)

    async def buy(i: int, tx: Transaction) -> str:
        try:
            result = await journals[i % 4].record(tx, by=user)
        except InsufficientFunds:
            return "refused"
        return "duplicate" if result.duplicate else tx.id

    try:
        outcomes = await asyncio.gather(*(buy(i, tx) for i, tx in enumerate(sends)))
    finally:
        for c in clients:
            await c.close()
    landed = {o for o in outcomes if o not in ("refused", "duplicate")}
    spent = sum(-t.legs[0].amount for t in purchases if t.id in landed)
    journal = LedgerJournal(JetStreamEventStore(nc, codec), factory)
    balances = {a: await journal.balance(a) for a in (MINT, user, creator, PLATFORM)}
    assert balances[user] == 10_000 - spent >= 0
    assert balances[creator] + balances[PLATFORM] == spent and balances[MINT] == -10_000
    assert sum(balances.values()) == 0  # nothing created, nothing lost
    assert outcomes.count("refused") > 0  # the wallet ran dry: overspending was tried
    # A re-sent purchase lands once (and a refused one stays refused).
    assert outcomes.count("duplicate") == sum(1 for t in purchases[:20] if t.id in landed)
    for tx in purchases:
        assert await journal.recorded(tx.id) == (tx.id in landed)
