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
    waits for the previous);
(d) per-use charges from usage reports through the marketplace's domain
    (`Market.charge_use`): the node's signature checked, the payment split
    over a three-deep fork lineage (five accounts), recorded by the journal;
    payers over many wallets.

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

from nacl.signing import SigningKey
from rich.console import Console
from rich.progress import Progress

from continuum.events import EventCodec, EventFactory
from continuum.events.market import (
    Ancestor,
    EntryRecorded,
    LedgerLeg,
    LicenceGranted,
    ListingPublished,
    ListingTerms,
    TransactionRecorded,
)
from continuum.genome.manifest import creator_of
from continuum.identity import NodeIdentity
from continuum.market.book import MarketBook, licence_id
from continuum.market.documents import UsageReport, signed
from continuum.market.journal import LedgerJournal
from continuum.market.ledger import MINT, PLATFORM, InsufficientFunds, Transaction
from continuum.market.splits import Terms, split_payment
from continuum.node.embedded import NatsServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.store import JetStreamEventStore, Topology
from continuum_marketplace.market import Market

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section

console = Console()
WRITERS = 16
WALLETS = 64
PRICE = 25


NODE_KEY = SigningKey.generate()
LINEAGE = [
    Ancestor(layer="pro@1.0.0", creator=creator_of(SigningKey.generate()), parents=["mid@1.0.0"]),
    Ancestor(layer="mid@1.0.0", creator=creator_of(SigningKey.generate()), parents=["base@1.0.0"]),
    Ancestor(layer="base@1.0.0", creator=creator_of(SigningKey.generate()), parents=[]),
]


async def usage_market(
    journal: LedgerJournal, factory: EventFactory, wallets: list[str]
) -> tuple[list[str], Callable[[int], Awaitable[None]]]:
    """The marketplace's domain with one listed layer (three deep) and a
    licence per wallet on one node; a function charging one signed report."""
    book = MarketBook()
    node = creator_of(NODE_KEY)
    book.apply(
        "pro",
        ListingPublished(
            version="1.0.0", creator=LINEAGE[0].creator, terms=ListingTerms(per_use=PRICE),
            license="mit", offer={}, signature="x", description="bench", base_model="builtin",
            lineage=LINEAGE, node=node,
        ),
        time.time(),
    )  # fmt: skip
    keyed = {}
    for wallet in wallets:
        account = creator_of(SigningKey.generate())
        keyed[wallet] = account
        licence = LicenceGranted(
            account=account, node=node, layer="pro@1.0.0", kind="bought", transaction="t",
            order={}, signature="x",
        )  # fmt: skip
        book.apply(f"{licence_id(account, node, 'pro')}", licence, time.time())
        grant = {MINT: -(10**9), account: 10**9}
        await journal.record(Transaction.of(f"fund-{account}", "grant", grant), by="bench")
    market = Market(book, journal, factory, None, None, node, Terms())  # type: ignore[arg-type]

    async def charge(i: int) -> None:
        account = keyed[wallets[i % len(wallets)]]
        if i < len(wallets):  # the first round funds the payers
            grant = {MINT: -(10**9), account: 10**9}
            await journal.record(Transaction.of(f"fund-{account}", "grant", grant), by="bench")
        report = UsageReport(
            id=uuid.uuid4().hex, node=node, account=account, layer="pro@1.0.0", uses=1,
            per_use=PRICE, at=time.time(),
        )  # fmt: skip
        body = signed(report, NODE_KEY)
        await market.charge_use(body["document"], body["signature"])

    return list(keyed.values()), charge


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

        payers, charge = await usage_market(journal, factory, wallets)

        rates = {
            "raw": await timed(n, raw),
            "spread": await timed(n, spread),
            "one_wallet": await timed(n, one_wallet),
            "usage": await timed(n, charge),
        }
        accounts = (*wallets, *payers, "creator", PLATFORM, MINT, *(a.creator for a in LINEAGE))
        accounts_ = list(dict.fromkeys(accounts))
        balances = [await journal.balance(a) for a in accounts_]
        if (
            sum(balances) != 0
            or min([b for a, b in zip(accounts_, balances, strict=True) if a != MINT]) < 0
        ):
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
        "usage": f"(d) per-use charges from signed usage reports, {WALLETS} payers",
    }
    rows = [
        f"| {label} | {med[key]:,.0f} | {med[key] / med['raw']:.2f} |"
        for key, label in labels.items()
    ]
    each = "; ".join(f"{k} {', '.join(f'{r[k]:,.0f}' for r in runs)}" for k in labels)
    return "\n".join(
        [
            "## Market ledger (purchases and per-use charges per second)",
            "",
            "Command: `make bench`  ",
            f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; {n:,} purchases per mode from {WRITERS} concurrent "
            f"writers, medians of {len(runs)} repetitions, each on a fresh nats-server; after "
            "each, every balance is read back: the ledger sums to zero and no wallet is "
            "below zero (checked, or the run fails).",
            "",
            "| mode | payments/s | / raw |",
            "|---|---:|---:|",
            *rows,
            "",
            "A purchase through the journal also reads the buyer's new entries (a batched "
            "direct get) and checks its balance before appending; its append expects the "
            "buyer's version and a new transaction subject, so it can be refused and retried. "
            "A per-use charge also opens the node's signed report (Ed25519) and splits the "
            "payment over five accounts (platform, creator, two ancestors, payer).",
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
