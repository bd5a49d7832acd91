"""The ledger on the event log: a transaction is recorded in one atomic
append, once, and never spends a balance twice.

The append holds the transaction's own event (on a subject that must be new:
its id is the idempotency key, at any age) and one entry per account. An
account the transaction takes from is expected at the version its balance
was read at; an account it only pays into is not checked (a credit cannot
overdraw, and the platform's account, credited by every purchase, must not
make all purchases wait for each other). JetStream refuses the whole append
if any of that moved; the journal then tells a re-sent transaction (its
subject exists: already recorded, nothing happens) from a race on an account
(read again and retry, checking the balance again).

A balance is the sum of the account's entries; the journal keeps each
account's sum at a version and reads only the entries after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from continuum.events.codec import EventFactory
from continuum.events.envelope import Envelope
from continuum.events.market import EntryRecorded, LedgerLeg, TransactionRecorded
from continuum.market.ledger import MINT, InsufficientFunds, LedgerError, Transaction
from continuum.store.base import ConcurrencyError, EventStore, StoreBusy

#: How often a transaction is retried when other writers keep moving its accounts.
ATTEMPTS = 100


def account_subject(account: str) -> str:
    return f"evt.market.account.{account}"


def transaction_subject(transaction: str) -> str:
    return f"evt.market.transaction.{transaction}"


@dataclass(frozen=True)
class Recorded:
    transaction: str
    #: True when the id was recorded before: nothing new was written.
    duplicate: bool
    #: The touched accounts' balances after it (or now, for a duplicate).
    balances: dict[str, int]
    attempts: int = 1
    #: The stream sequence of its last event (0 for a duplicate).
    seq: int = 0


class LedgerJournal:
    def __init__(self, store: EventStore, factory: EventFactory) -> None:
        self._store = store
        self._factory = factory
        self._sums: dict[str, tuple[int, int]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def position(self, account: str) -> tuple[int, int]:
        """(balance, version) of ``account``; (0, 0) before its first entry."""
        balance, version = self._sums.get(account, (0, 0))
        for stored in await self._store.load(account_subject(account), after=version):
            payload = stored.event.payload
            if not isinstance(payload, EntryRecorded):
                raise LedgerError(f"{account}: its log holds a {stored.event.envelope.type}")
            balance, version = balance + payload.amount, stored.seq
        self._sums[account] = (balance, version)
        return balance, version

    async def balance(self, account: str) -> int:
        return (await self.position(account))[0]

    async def record(
        self, tx: Transaction, by: str, also: Sequence[tuple[Envelope, int | None]] = ()
    ) -> Recorded:
        """Record ``tx`` (whole or not at all, once); :class:`InsufficientFunds`
        when an account other than ``mint`` would go below zero. ``also``:
        events of the market's other aggregates (a licence) written in the
        same atomic append, so a purchase and what it bought land together.

        Transactions of this process that take from one account wait for each
        other (in account order, so two never wait crosswise); the optimistic
        check is for other processes, which then rarely collide."""
        debited = sorted(leg.account for leg in tx.legs if _checked(leg.account, leg.amount))
        async with contextlib.AsyncExitStack() as held:
            for account in debited:
                await held.enter_async_context(self._locks.setdefault(account, asyncio.Lock()))
            return await self._record(tx, by, also)

    async def _record(
        self, tx: Transaction, by: str, also: Sequence[tuple[Envelope, int | None]]
    ) -> Recorded:
        marker = self._factory.new(
            TransactionRecorded(
                kind=tx.kind,
                legs=[LedgerLeg(account=leg.account, amount=leg.amount) for leg in tx.legs],
                memo=tx.memo,
                by=by,
                layer=tx.layer,
                quantity=tx.quantity,
            ),
            tx.id,
        )
        for attempt in range(1, ATTEMPTS + 1):
            positions = {leg.account: await self.position(leg.account) for leg in tx.legs}
            after = {leg.account: positions[leg.account][0] + leg.amount for leg in tx.legs}
            if await self.recorded(tx.id):
                return Recorded(tx.id, True, {a: p[0] for a, p in positions.items()}, attempt)
            for account, balance in after.items():
                if balance < 0 and account != MINT:
                    raise InsufficientFunds(
                        f"{account} has {positions[account][0]} units, "
                        f"{positions[account][0] - balance} needed"
                    )
            entries = [
                (
                    self._factory.new(
                        EntryRecorded(transaction=tx.id, kind=tx.kind, amount=leg.amount),
                        leg.account,
                    ),
                    positions[leg.account][1] if _checked(leg.account, leg.amount) else None,
                )
                for leg in tx.legs
            ]
            try:
                results = await self._store.append_across([(marker, 0), *entries, *also])
            except ConcurrencyError as exc:
                if exc.subject == transaction_subject(tx.id):
                    continue  # recorded meanwhile (a re-send raced us): answered above
                if exc.subject not in {account_subject(leg.account) for leg in tx.legs}:
                    raise  # one of ``also``'s expectations: the caller's to answer
                await asyncio.sleep(random.uniform(0, 0.002 * attempt))
                continue
            except StoreBusy:  # too many atomic appends open on the stream: back off
                await asyncio.sleep(random.uniform(0.001, 0.005 * attempt))
                continue
            return Recorded(tx.id, False, after, attempt, max(r.seq for r in results))
        raise LedgerError(
            f"transaction {tx.id}: its accounts kept changing ({ATTEMPTS} attempts); retry"
        )

    async def transaction(self, transaction: str) -> TransactionRecorded | None:
        """The recorded transaction ``transaction``, or None."""
        stored = await self._store.last(transaction_subject(transaction))
        payload = stored.event.payload if stored is not None else None
        return payload if isinstance(payload, TransactionRecorded) else None

    async def recorded(self, transaction: str) -> bool:
        return await self._store.last(transaction_subject(transaction)) is not None


def _checked(account: str, amount: int) -> bool:
    """Whether a leg must find its account unchanged: it takes from an
    account that may not go below zero."""
    return amount < 0 and account != MINT
