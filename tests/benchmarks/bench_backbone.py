"""Backbone benchmark: raw JetStream vs append -> projection committed in Postgres.

Side by side in one run, on fresh servers per repetition, medians reported.
The producing side runs in this process and the consuming side in a second
process, as in a deployment (a writer service and a projecting service):

(a) raw: nats-py ``publish_async`` of pre-encoded events + a pull consumer
    that fetches and acks them (no validation, no database);
(b) backbone: ``JetStreamEventStore.append`` (validation, signature check,
    optimistic-concurrency headers) from concurrent writers, consumed by the
    ``ProjectionRunner`` into the gateway's real event-log read model with
    exactly-once checkpoints.

Latency is measured at a paced 1,000 events/s from the call to publish/append
to the moment the effect is visible: for (a) the consumer process receiving
the message, for (b) Postgres delivering to this process a NOTIFY issued
inside the projection's transaction (Postgres delivers notifications only on
commit). Both processes stamp times with CLOCK_MONOTONIC, which is system-wide.

Usage: python tests/benchmarks/bench_backbone.py [--events N] [--repeats R] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from continuum.events import Envelope, EventCodec, EventFactory
from continuum.events.builtin import AnnotationAdded
from continuum.events.seal import SEAL_HEADER
from continuum.identity import NodeIdentity
from continuum.projections import ProjectionRunner
from continuum.store import JetStreamEventStore, StoredEvent
from continuum_gateway.event_log import EventLogProjection

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import (
    MAX_BYTES,
    Servers,
    percentiles,
    start_postgres,
    stop_postgres,
    write_section,
)

WRITERS = 64
#: Latency samples (seconds) of the last repetition, for the plot.
LATENCIES: dict[str, list[float]] = {}
#: The node whose services produce and project (shared with the consumer process).
IDENTITY = NodeIdentity.generate()
NODE_KEY = base64.b64encode(bytes(IDENTITY.signing_key)).decode()
console = Console()


class NotifyingEventLog(EventLogProjection):
    """The real event-log projection, plus a NOTIFY per event (delivered at commit)."""

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        await super().apply_batch(conn, events)
        await conn.execute(
            "SELECT pg_notify('bench', x) FROM unnest($1::text[]) AS x",
            [e.event.envelope.id for e in events],
        )


def make_events(factory: EventFactory, n: int, aggregates: int) -> list[Envelope]:
    return [
        factory.new(
            AnnotationAdded(text=f"benchmark event {i}", tags=["bench"]), f"agg{i % aggregates}"
        )
        for i in range(n)
    ]


class ConsumerProcess:
    """The consuming side in its own process: ``--consumer raw|backbone``."""

    def __init__(self, mode: str, servers: Servers, count: int) -> None:
        self.env = {**os.environ, "CONTINUUM_NODE_KEY": NODE_KEY}
        self.args = [
            sys.executable,
            __file__,
            "--consumer",
            mode,
            "--nats",
            servers.nats.url,
            "--dsn",
            servers.dsn,
            "--count",
            str(count),
        ]

    async def __aenter__(self) -> ConsumerProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=self.env
        )
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 60)
        if line.strip() != b"READY":
            err = await self.proc.stderr.read() if self.proc.stderr else b""
            raise RuntimeError(f"consumer failed to start: {line!r} {err.decode()[-2000:]}")
        return self

    async def result(self) -> dict:
        out, err = await asyncio.wait_for(self.proc.communicate(), 600)
        if self.proc.returncode != 0:
            raise RuntimeError(f"consumer failed: {err.decode()[-2000:]}")
        return json.loads(out.splitlines()[-1])

    async def __aexit__(self, *exc: object) -> None:
        if self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()


async def consume_raw(nc: nats.aio.client.Client, count: int) -> None:
    js = nc.jetstream()
    await js.add_consumer(
        "EVT_MESH",
        ConsumerConfig(
            durable_name="raw",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=10_000,
            filter_subject="evt.mesh.>",
        ),
    )
    sub = await js.pull_subscribe_bind("raw", stream="EVT_MESH")
    arrivals: dict[str, float] = {}
    print("READY", flush=True)
    while len(arrivals) < count:
        with contextlib.suppress(nats.errors.TimeoutError, TimeoutError):
            for msg in await sub.fetch(500, timeout=1.0):
                arrivals[msg.headers["Nats-Msg-Id"]] = time.monotonic()
                await msg.ack()
    print(json.dumps({"done": max(arrivals.values()), "arrivals": arrivals}), flush=True)


async def consume_backbone(nc: nats.aio.client.Client, dsn: str, count: int) -> None:
    # The projecting service holds the node key, as every service of a node does.
    identity = NodeIdentity.configured(Path("/nonexistent"), os.environ["CONTINUUM_NODE_KEY"])
    codec = EventCodec(MAX_BYTES, seal_key=identity.seal_key)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=8)
    assert pool is not None
    runner = ProjectionRunner(NotifyingEventLog(), nc, pool, codec)
    started = time.monotonic()
    await runner.start()
    print("READY", flush=True)
    while runner.counters.applied < count:
        await asyncio.sleep(0.001)
    done = time.monotonic()
    await runner.stop()
    await pool.close()
    print(json.dumps({"done": done, "started": started}), flush=True)


async def consume_faststream(url: str, dsn: str, count: int) -> None:
    """The same projection, checkpoint and transaction per batch as (b), through
    a FastStream batch pull subscriber instead of the ProjectionRunner: the
    measured reason the runner keeps its own fetch loop (ADR 0016). FastStream
    fetches, calls the handler, and only then fetches again; the runner
    verifies the next batch while the previous one commits."""
    from faststream.middlewares import AckPolicy as FastAck
    from faststream.nats import JStream, NatsMessage, PullSub

    from continuum.projections import checkpoints
    from continuum.runtime.broker import create_broker

    identity = NodeIdentity.configured(Path("/nonexistent"), os.environ["CONTINUUM_NODE_KEY"])
    codec = EventCodec(MAX_BYTES, seal_key=identity.seal_key)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=8)
    assert pool is not None
    projection = NotifyingEventLog()
    schema = projection.schema
    async with pool.acquire() as conn:
        await checkpoints.ensure_tables(conn, schema)
        await projection.setup(conn)
    broker = create_broker(url, "bench-faststream")
    applied = 0
    subscriber = broker.subscriber(
        "evt.mesh.>",
        stream=JStream("EVT_MESH", declare=False),
        durable="faststream",
        config=ConsumerConfig(
            durable_name="faststream",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=2000,
            filter_subject="evt.mesh.>",
        ),
        pull_sub=PullSub(batch_size=500, timeout=0.005, batch=True),
        ack_policy=FastAck.MANUAL,
        decoder=lambda msg: msg.body,
    )

    @subscriber
    async def apply(messages: list[bytes], batch: NatsMessage) -> None:
        nonlocal applied
        raws = batch.raw_message
        stored = []
        for raw in raws:
            seq = raw.metadata.sequence.stream
            event = codec.decode(raw.data, raw.headers, raw.subject)
            stored.append(StoredEvent(event, "EVT_MESH", seq))
        async with pool.acquire() as conn, conn.transaction():
            position = await checkpoints.position_for_update(conn, schema, "faststream", "EVT_MESH")
            fresh = [e for e in stored if e.seq > position]
            if fresh:
                await projection.apply_batch(conn, fresh)
            await checkpoints.advance(conn, schema, "faststream", "EVT_MESH", stored[-1].seq)
        for raw in raws:
            await raw.ack()
        applied += len(fresh)

    started = time.monotonic()
    await broker.start()
    print("READY", flush=True)
    while applied < count:
        await asyncio.sleep(0.001)
    done = time.monotonic()
    await broker.stop()
    await pool.close()
    print(json.dumps({"done": done, "started": started}), flush=True)


async def consumer_main(mode: str, url: str, dsn: str, count: int) -> None:
    if mode == "faststream":
        await consume_faststream(url, dsn, count)
        return
    nc = await nats.connect(url)
    try:
        if mode == "raw":
            await consume_raw(nc, count)
        else:
            await consume_backbone(nc, dsn, count)
    finally:
        await nc.close()


async def raw_throughput(servers: Servers, codec: EventCodec, events: list[Envelope]) -> float:
    js = servers.nc.jetstream()
    payloads = [(codec.subject_of(e), codec.encode(e), e.id) for e in events]
    async with ConsumerProcess("raw", servers, len(events)) as consumer:
        start = time.monotonic()
        futures = [await js.publish_async(s, p, headers={"Nats-Msg-Id": i}) for s, p, i in payloads]
        await asyncio.gather(*futures)
        done = (await consumer.result())["done"]
    return len(events) / (done - start)


async def backbone_throughput(
    servers: Servers, codec: EventCodec, events: list[Envelope], consumer_mode: str = "backbone"
) -> float:
    store = JetStreamEventStore(servers.nc, codec)
    by_writer: list[list[Envelope]] = [events[i::WRITERS] for i in range(WRITERS)]

    async def writer(mine: list[Envelope]) -> None:
        for event in mine:
            await store.append([event], None)

    async with ConsumerProcess(consumer_mode, servers, len(events)) as consumer:
        start = time.monotonic()
        await asyncio.gather(*(writer(w) for w in by_writer))
        done = (await consumer.result())["done"]
    return len(events) / (done - start)


async def drain_throughput(
    servers: Servers, codec: EventCodec, events: list[Envelope], consumer_mode: str
) -> float:
    """The consumer alone: the log is written first, then the projection
    drains it (what a rebuild or a restart after downtime does)."""
    store = JetStreamEventStore(servers.nc, codec)
    by_writer: list[list[Envelope]] = [events[i::WRITERS] for i in range(WRITERS)]

    async def writer(mine: list[Envelope]) -> None:
        for event in mine:
            await store.append([event], None)

    await asyncio.gather(*(writer(w) for w in by_writer))
    async with ConsumerProcess(consumer_mode, servers, len(events)) as consumer:
        result = await consumer.result()
    return len(events) / (result["done"] - result["started"])


async def paced(events: list[Envelope], rate: float, send: object) -> dict[str, float]:
    sent: dict[str, float] = {}
    start = time.monotonic()
    tasks = []
    for i, event in enumerate(events):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        sent[event.id] = time.monotonic()
        tasks.append(asyncio.create_task(send(event)))  # type: ignore[operator]
    await asyncio.gather(*tasks)
    return sent


def per_event_costs(factory: EventFactory, codec: EventCodec) -> dict[str, float]:
    """Median microseconds per event of each codec step, in this process."""
    import timeit

    event = make_events(factory, 1, 1)[0]
    raw = codec.encode(event)
    subject = codec.subject_of(event)
    headers = {SEAL_HEADER: codec.seal(subject, raw) or ""}
    unsealed = EventCodec(MAX_BYTES)
    steps = {
        "create and sign (EventFactory.new)": lambda: make_events(factory, 1, 1),
        "encode (a fresh envelope; the bytes are then reused)": lambda: codec.encode(
            event.model_copy()
        ),
        "decode with Ed25519 verification": lambda: unsealed.decode(raw),
        "decode with node seal": lambda: codec.decode(raw, headers, subject),
    }
    return {
        name: statistics.median(timeit.repeat(fn, number=2000, repeat=5)) / 2000 * 1e6
        for name, fn in steps.items()
    }


@contextlib.contextmanager
def quiet_heap() -> Iterator[None]:
    """Keep the benchmark's own bookkeeping (tens of thousands of pre-built
    events held across repetitions) out of the cyclic GC while latency is
    measured: otherwise full collections of that heap, which no service
    holds, show up as 20-30 ms stalls in the p99 of later repetitions."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


async def raw_latency(
    servers: Servers, codec: EventCodec, events: list[Envelope], rate: float
) -> list[float]:
    js = servers.nc.jetstream()

    async def send(event: Envelope) -> None:
        await js.publish(
            codec.subject_of(event), codec.encode(event), headers={"Nats-Msg-Id": event.id}
        )

    with quiet_heap():
        async with ConsumerProcess("raw", servers, len(events)) as consumer:
            sent = await paced(events, rate, send)
            arrived = (await consumer.result())["arrivals"]
    return [arrived[i] - t for i, t in sent.items()]


async def backbone_latency(
    servers: Servers, codec: EventCodec, events: list[Envelope], rate: float
) -> list[float]:
    store = JetStreamEventStore(servers.nc, codec)
    committed: dict[str, float] = {}
    listener = await asyncpg.connect(servers.dsn)
    await listener.add_listener(
        "bench", lambda *args: committed.__setitem__(args[3], time.monotonic())
    )

    async def send(event: Envelope) -> None:
        await store.append([event], None)

    with quiet_heap():
        async with ConsumerProcess("backbone", servers, len(events)) as consumer:
            sent = await paced(events, rate, send)
            await consumer.result()
    while len(committed) < len(events):
        await asyncio.sleep(0.01)
    await listener.close()
    return [committed[i] - t for i, t in sent.items()]


async def main(n: int, repeats: int, rate: float, seconds: float) -> dict[str, list[float]]:
    """Run everything; per-event codec costs are measured first, on a quiet machine."""
    factory = EventFactory(IDENTITY, "/continuum/bench")
    codec = EventCodec(MAX_BYTES, seal_key=IDENTITY.seal_key)
    foreign = EventCodec(MAX_BYTES)
    events = make_events(factory, n, aggregates=WRITERS * 4)
    results: dict[str, list[float]] = {
        k: []
        for k in (
            "raw_tput",
            "bb_tput",
            "fs_tput",
            "bb_drain",
            "fs_drain",
            "foreign_tput",
            "raw_p50",
            "raw_p99",
            "bb_p50",
            "bb_p99",
        )
    }
    pg = start_postgres()
    try:
        with Progress(console=console) as progress:
            task = progress.add_task("benchmark", total=repeats * 8)
            for _ in range(repeats):
                async with Servers(pg) as servers:
                    results["raw_tput"].append(await raw_throughput(servers, codec, events))
                progress.advance(task)
                async with Servers(pg) as servers:
                    results["bb_tput"].append(await backbone_throughput(servers, codec, events))
                progress.advance(task)
                async with Servers(pg) as servers:
                    results["fs_tput"].append(
                        await backbone_throughput(servers, codec, events, "faststream")
                    )
                progress.advance(task)
                for mode, key in (("backbone", "bb_drain"), ("faststream", "fs_drain")):
                    async with Servers(pg) as servers:
                        results[key].append(await drain_throughput(servers, codec, events, mode))
                    progress.advance(task)
                async with Servers(pg) as servers:
                    # A foreign publisher: its appends carry no seal of this node,
                    # so the projection checks every Ed25519 signature.
                    results["foreign_tput"].append(
                        await backbone_throughput(servers, foreign, events)
                    )
                progress.advance(task)
                paced_events = make_events(factory, int(rate * seconds), aggregates=50)
                async with Servers(pg) as servers:
                    LATENCIES["raw"] = await raw_latency(servers, codec, paced_events, rate)
                    p50, p99 = percentiles(LATENCIES["raw"])
                    results["raw_p50"].append(p50)
                    results["raw_p99"].append(p99)
                progress.advance(task)
                paced_events = make_events(factory, int(rate * seconds), aggregates=50)
                async with Servers(pg) as servers:
                    LATENCIES["backbone"] = await backbone_latency(
                        servers, codec, paced_events, rate
                    )
                    p50, p99 = percentiles(LATENCIES["backbone"])
                    results["bb_p50"].append(p50)
                    results["bb_p99"].append(p99)
                progress.advance(task)
    finally:
        stop_postgres(pg)
    return results


def render(
    results: dict[str, list[float]],
    costs: dict[str, float],
    n: int,
    repeats: int,
    rate: float,
    command: str,
) -> str:
    med = {k: statistics.median(v) for k, v in results.items()}
    ratio = med["bb_tput"] / med["raw_tput"]
    lines = [
        "## Event backbone",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {n:,} events per throughput run, medians of {repeats} "
        "repetitions on fresh servers; producer in one process, consumer/projection in another.",
        "",
        "| measurement | (a) raw nats-py JetStream "
        "| (b) backbone: append → projection in Postgres | b / a |",
        "|---|---:|---:|---:|",
        f"| throughput, events/s | {med['raw_tput']:,.0f} | {med['bb_tput']:,.0f} | {ratio:.2f} |",
        f"| latency p50 at {rate:,.0f} events/s, ms | {med['raw_p50']:.2f} | {med['bb_p50']:.2f} | "
        f"{med['bb_p50'] / med['raw_p50']:.1f} |",
        f"| latency p99 at {rate:,.0f} events/s, ms | {med['raw_p99']:.2f} | {med['bb_p99']:.2f} | "
        f"{med['bb_p99'] / med['raw_p99']:.1f} |",
        "",
        "The projection alone, the same checkpoint and transaction per batch, run by the "
        "ProjectionRunner and by a FastStream batch pull subscriber (ADR 0016):",
        "",
        "| consumer | append → projection, events/s | draining a written log, events/s |",
        "|---|---:|---:|",
        f"| (b) ProjectionRunner | {med['bb_tput']:,.0f} | {med['bb_drain']:,.0f} |",
        f"| (c) FastStream batch pull subscriber | {med['fs_tput']:,.0f} | "
        f"{med['fs_drain']:,.0f} |",
        f"| c / b | {med['fs_tput'] / med['bb_tput']:.2f} | "
        f"{med['fs_drain'] / med['bb_drain']:.2f} |",
        "",
        "Events appended by another node or an external publisher carry no seal of this "
        "node, so the projection checks each Ed25519 signature: "
        f"{med['foreign_tput']:,.0f} events/s, {med['foreign_tput'] / med['raw_tput']:.2f} of raw.",
        "",
        "Targets: b/a throughput at least 0.5 "
        f"({'met' if ratio >= 0.5 else 'NOT met'}); p99 under 20 ms at 1,000 events/s "
        f"({'met' if med['bb_p99'] < 20 else 'NOT met'}).",
        "",
        "![Latency CDF](benchmarks-backbone-latency.png)",
        "",
        "Per-event cost of each codec step (one process, median of 5 x 2,000):",
        "",
        "| step | us per event |",
        "|---|---:|",
        *(f"| {name} | {us:.1f} |" for name, us in costs.items()),
        "",
        "Each repetition: "
        + "; ".join(f"{k} " + ", ".join(f"{v:,.1f}" for v in vals) for k, vals in results.items()),
        "",
    ]
    return "\n".join(lines)


def plot_latency(path: Path, rate: float) -> None:
    """CDF of append-to-visible latency, raw vs backbone (last repetition)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.6), dpi=120)
    labels = {
        "raw": "(a) raw JetStream: publish → consumer",
        "backbone": "(b) backbone: append → committed in Postgres",
    }
    for key, samples in LATENCIES.items():
        ms = sorted(x * 1000 for x in samples)
        ax.plot(ms, [(i + 1) / len(ms) for i in range(len(ms))], label=labels[key])
    ax.axvline(20, color="grey", linestyle="--", linewidth=1)
    ax.text(
        19,
        0.5,
        "target: p99 < 20 ms",
        color="grey",
        fontsize=8,
        rotation=90,
        ha="right",
        va="center",
    )
    ax.set_xscale("log")
    ax.set_xlabel("latency, ms (log scale)")
    ax.set_ylabel("fraction of events")
    ax.set_title(f"Event latency at {rate:,.0f} events/s")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--write", type=Path, help="Markdown file to write the table into.")
    parser.add_argument(
        "--consumer", choices=["raw", "backbone", "faststream"], help=argparse.SUPPRESS
    )
    parser.add_argument("--nats", help=argparse.SUPPRESS)
    parser.add_argument("--dsn", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.consumer:
        asyncio.run(consumer_main(args.consumer, args.nats, args.dsn, args.count))
        sys.exit(0)
    costs = per_event_costs(
        EventFactory(IDENTITY, "/continuum/bench"),
        EventCodec(MAX_BYTES, seal_key=IDENTITY.seal_key),
    )
    results = asyncio.run(main(args.events, args.repeats, args.rate, args.seconds))
    command = "make bench" if args.write else " ".join(["python", *sys.argv])
    section = render(results, costs, args.events, args.repeats, args.rate, command)
    table = Table(title="backbone benchmark (medians)")
    for col in ("metric", "value"):
        table.add_column(col)
    for key, values in results.items():
        table.add_row(key, f"{statistics.median(values):,.2f}")
    console.print(table)
    console.print(section)
    if args.write:
        write_section(args.write, "backbone", section)
        plot = args.write.parent / "benchmarks-backbone-latency.png"
        plot_latency(plot, args.rate)
        console.print(f"written to {args.write} and {plot}")
