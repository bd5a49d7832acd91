"""Ledger benchmark: purchases per second through the ledger journal, with
the balance invariant checked after the run, against raw JetStream appends
of the same events in the same run.

Side by side on a fresh nats-server per repetition, medians reported:

(a) baseline: the same events a purchase writes (the transaction and one
    entry per account: buyer, creator, platform) appended as atomic batches
    with no checks at all, from the same number of concurrent writers;
(b) the journal: `LedgerJournal.record` per purchase: read the buyer's
    balance, check it, append with the buyer's expected version and the
    transaction's subject expected new; buyers spread over many wallets;
(c) the journal with every purchase from one wallet (the worst case: each
    waits for the previous).

After (b) and (c) every wallet's balance is read back and the ledger must
sum to zero with no wallet below zero; a run that breaks that is reported
as such, not timed.

Usage: python tests/benchmarks/bench_market.py [--purchases N] [--repeats R] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.progress import Progress

from continuum.events import EventCodec, EventFactory
from continuum.events.market import EntryRecorded, LedgerLeg, TransactionRecorded
from continuum.identity import NodeIdentity
from continuum.market.journal import LedgerJournal
from continuum.market.ledger import MINT, PLATFORM, InsufficientFunds, Transaction
from continuum.market.splits import Terms, split_payment
from continuum.node.embedded import NatsServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.store import JetStreamEventStore, Topology

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section

console = Console()
WRITERS = 16
WALLETS = 64
PRICE = 25


def purchase(buyer: str, creator: str) -> Transaction:
    parts = split_payment(PRICE, "layer", lambda _: (creator, ()), Terms())
    return Transaction.of(uuid.uuid4().hex, "purchase", {buyer: -PRICE, **parts})


async def timed(n: int, work: Callable[[int], Awaitable[None]]) -> float:
    """Purchases per second of ``n`` calls of ``work`` from WRITERS tasks."""
    queue = list(range(n))

    async def writer() -> None:
        while queue:
            await work(queue.pop())

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(WRITERS)))
    return n / (time.perf_counter() - started)


async def one_run(n: int) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="bench-market-"))
    server = NatsServer(root, port=free_port(), server_name="bench")
    server.start()
    try:
        nc = await connect_nats(server.url, name="bench")
        await Topology(64 * 1024).bootstrap(nc.jetstream())
        codec = EventCodec(64 * 1024)
        factory = EventFactory(NodeIdentity.generate(), "bench")
        store = JetStreamEventStore(nc, codec)
        journal = LedgerJournal(store, factory)
        wallets = [f"w{i}-{uuid.uuid4().hex[:6]}" for i in range(WALLETS)]
        for wallet in wallets:
            await journal.record(
                Transaction.of(uuid.uuid4().hex, "grant", {MINT: -n * PRICE, wallet: n * PRICE}),
                by="bench",
            )

        async def raw(i: int) -> None:
            # Its own accounts: what (b) and (c) leave behind is checked to balance.
            tx = purchase(f"raw{i % WALLETS}", "raw-creator")
            legs = [
                (("raw-platform" if x.account == PLATFORM else x.account), x.amount)
                for x in tx.legs
            ]
            tx = Transaction.of(tx.id, tx.kind, dict(legs))
            marker = factory.new(
                TransactionRecorded(
                    kind=tx.kind,
                    legs=[LedgerLeg(account=x.account, amount=x.amount) for x in tx.legs],
                    by="bench",
                ),
                tx.id,
            )
            entries = [
                factory.new(
                    EntryRecorded(transaction=tx.id, kind=tx.kind, amount=x.amount), x.account
                )
                for x in tx.legs
            ]
            await store.append_across([(marker, None), *((e, None) for e in entries)])

        async def spread(i: int) -> None:
            await journal.record(purchase(wallets[i % WALLETS], "creator"), by="bench")

        async def one_wallet(i: int) -> None:
            with contextlib.suppress(InsufficientFunds):  # the wallet may run dry at the end
                await journal.record(purchase(wallets[0], "creator"), by="bench")

        rates = {
            "raw": await timed(n, raw),
            "spread": await timed(n, spread),
            "one_wallet": await timed(n, one_wallet),
        }
        balances = [await journal.balance(a) for a in (*wallets, "creator", PLATFORM, MINT)]
        if sum(balances) != 0 or min(balances[:-1]) < 0:
            raise RuntimeError(f"the ledger does not balance: {balances}")
        await nc.close()
        return rates
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def report(runs: list[dict[str, float]], n: int) -> str:
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    labels = {
        "raw": "(a) the same events appended raw (atomic batches, no checks)",
        "spread": f"(b) the journal, buyers over {WALLETS} wallets",
        "one_wallet": "(c) the journal, every purchase from one wallet",
    }
    rows = [
        f"| {label} | {med[key]:,.0f} | {med[key] / med['raw']:.2f} |"
        for key, label in labels.items()
    ]
    each = "; ".join(f"{k} {', '.join(f'{r[k]:,.0f}' for r in runs)}" for k in labels)
    return "\n".join(
        [
            "## Market ledger (purchases per second)",
            "",
            "Command: `make bench`  ",
            f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; {n:,} purchases per mode from {WRITERS} concurrent "
            f"writers, medians of {len(runs)} repetitions, each on a fresh nats-server; after "
            "each, every balance is read back: the ledger sums to zero and no wallet is "
            "below zero (checked, or the run fails).",
            "",
            "| mode | purchases/s | / raw |",
            "|---|---:|---:|",
            *rows,
            "",
            "A purchase through the journal also reads the buyer's new entries (a batched "
            "direct get) and checks its balance before appending; its append expects the "
            "buyer's version and a new transaction subject, so it can be refused and retried.",
            "",
            f"Each repetition: {each}",
            "",
        ]
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    runs = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("ledger runs", total=args.repeats)
        for _ in range(args.repeats):
            runs.append(await one_run(args.purchases))
            progress.advance(task)
    section = report(runs, args.purchases)
    console.print(section, markup=False)
    if args.write:
        write_section(args.write, "market", section)


if __name__ == "__main__":
    asyncio.run(main())
