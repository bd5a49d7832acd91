"""The projection runner: exactly-once effects, dead letters, redrive, faults."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from continuum.events import Envelope, EventCodec, EventFactory
from continuum.projections import (
    DeadLetterQueue,
    Projection,
    ProjectionRunner,
    RetryPolicy,
    Subscription,
)
from continuum.store import JetStreamEventStore, StoredEvent
from continuum.testing.contracts import (
    ProjectionContract,
    annotation,
    forged_signature,
    wait_caught_up,
)

FAST_RETRY = RetryPolicy(max_deliver=3, backoff=(0.01,))


class CountingProjection(Projection):
    """Counts annotations per aggregate with ``n = n + 1``: a second
    application of any event would show up as a wrong count."""

    name = "annotation-counts"
    schema = "test_proj"
    subscriptions = (Subscription("EVT_MESH", ("evt.mesh.annotation.>",)),)

    def __init__(self) -> None:
        self.poisoned = True

    async def setup(self, conn: asyncpg.Connection) -> None:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS test_proj.counts (agg text PRIMARY KEY, n bigint NOT NULL)"
        )

    async def reset(self, conn: asyncpg.Connection) -> None:
        await conn.execute("TRUNCATE test_proj.counts")

    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        if self.poisoned and event.event.payload.text == "poison":  # type: ignore[attr-defined]
            raise ValueError("cannot digest poison")
        await conn.execute(
            "INSERT INTO test_proj.counts AS c VALUES ($1, 1) "
            "ON CONFLICT (agg) DO UPDATE SET n = c.n + 1",
            event.event.envelope.subject,
        )


async def counts(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("SELECT agg, n FROM test_proj.counts")
    return {r["agg"]: r["n"] for r in rows}


async def append_many(
    store: JetStreamEventStore, factory: EventFactory, n: int, aggs: int = 5
) -> None:
    for i in range(n):
        await store.append([annotation(factory, f"agg{i % aggs}", f"e{i}")], None)


async def start_runner(
    nc: Client, pool: asyncpg.Pool, codec: EventCodec, **kw: object
) -> ProjectionRunner:
    runner = ProjectionRunner(CountingProjection(), nc, pool, codec, retry=FAST_RETRY, **kw)  # type: ignore[arg-type]
    await runner.start()
    return runner


class TestCountingProjectionContract(ProjectionContract):
    @pytest.fixture
    def projection(self) -> Projection:
        return CountingProjection()

    @pytest.fixture
    def sample_events(self, factory: EventFactory) -> list[list[Envelope]]:
        return [[annotation(factory, f"a{i % 3}", str(i))] for i in range(30)]

    async def snapshot(self, conn: asyncpg.Connection) -> object:
        return sorted(tuple(r) for r in await conn.fetch("SELECT agg, n FROM test_proj.counts"))


async def test_redelivered_events_have_no_second_effect(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    await append_many(store, factory, 200)
    runner = await start_runner(nc, pool, codec)
    try:
        await wait_caught_up(runner)
        assert await counts(pool) == {f"agg{i}": 40 for i in range(5)}
        # Deliver the whole stream again through the runner's own processing path.
        js = nc.jetstream()
        sub = await js.pull_subscribe(
            "evt.mesh.annotation.>",
            stream="EVT_MESH",
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT),
        )
        again = await sub.fetch(200, timeout=5)
        assert len(again) == 200
        await runner._process("EVT_MESH", again)
        assert await counts(pool) == {f"agg{i}": 40 for i in range(5)}
    finally:
        await runner.stop()


async def test_poison_event_is_dead_lettered_after_max_deliver_and_the_projection_moves_on(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    await store.append([annotation(factory, "p", "before")], None)
    poison = await store.append([annotation(factory, "p", "poison")], None)
    await store.append([annotation(factory, "p", "after")], None)
    runner = await start_runner(nc, pool, codec)
    try:
        await wait_caught_up(runner)
        assert await counts(pool) == {"p": 2}
        letters = await DeadLetterQueue(nc).list()
        assert len(letters) == 1
        letter = letters[0]
        assert (letter.consumer, letter.stream, letter.seq) == (
            "annotation-counts",
            "EVT_MESH",
            poison.version,
        )
        assert letter.attempts == FAST_RETRY.max_deliver
        assert "handler-error: ValueError: cannot digest poison" in letter.reason
        assert json.loads(letter.data)["data"]["text"] == "poison"

        # After a fix, the dead letter is re-driven exactly once.
        runner.projection.poisoned = False  # type: ignore[attr-defined]
        await runner.redrive(letter)
        assert await counts(pool) == {"p": 3}
        assert await DeadLetterQueue(nc).list() == []
        await runner.redrive(letter)  # a repeated redrive has no second effect
        assert await counts(pool) == {"p": 3}
    finally:
        await runner.stop()


async def test_invalid_events_go_straight_to_the_dlq_with_the_reason(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    js = nc.jetstream()
    good = annotation(factory, "v", "fine")
    forged = forged_signature(annotation(factory, "v", "forged"))
    await js.publish("evt.mesh.annotation.v", json.dumps(forged.attributes()).encode())
    await js.publish("evt.mesh.annotation.v", b"{this is not json")
    unknown = {**good.attributes(), "type": "continuum.mesh.annotation.added.v9"}
    await js.publish("evt.mesh.annotation.v", json.dumps(unknown).encode())
    await store.append([good], None)
    runner = await start_runner(nc, pool, codec)
    try:
        await wait_caught_up(runner)
        assert await counts(pool) == {"v": 1}
        reasons = [d.reason for d in await DeadLetterQueue(nc).list()]
        assert len(reasons) == 3
        assert reasons[0].startswith("bad-signature")
        assert reasons[1].startswith("malformed: the event is not valid JSON")
        assert reasons[2].startswith("unknown-version")
        assert all(d.attempts == 1 for d in await DeadLetterQueue(nc).list())
    finally:
        await runner.stop()


async def test_lost_postgres_connections_lose_and_duplicate_nothing(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    runner = await start_runner(nc, pool, codec, batch_size=50)
    killer_pool = await asyncpg.create_pool(pool._connect_args[0], min_size=1, max_size=1)  # type: ignore[attr-defined]
    try:
        writer = asyncio.create_task(append_many(store, factory, 1500, aggs=3))
        for _ in range(6):
            await asyncio.sleep(0.15)
            await killer_pool.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        await writer
        await wait_caught_up(runner, timeout=60)
        # Read through a fresh connection: the shared pool was under attack.
        fresh = await asyncpg.create_pool(pool._connect_args[0], min_size=1, max_size=1)  # type: ignore[attr-defined]
        try:
            assert await counts(fresh) == {"agg0": 500, "agg1": 500, "agg2": 500}
        finally:
            await fresh.close()
        assert await DeadLetterQueue(nc).list() == []
    finally:
        await killer_pool.close()
        await runner.stop()


async def test_only_one_runner_applies_at_a_time(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    first = await start_runner(nc, pool, codec)
    second = ProjectionRunner(CountingProjection(), nc, pool, codec)
    standby = asyncio.create_task(second.start())
    await asyncio.sleep(0.5)
    assert not standby.done(), "the second runner must wait for the leader"
    await append_many(store, factory, 100)
    await wait_caught_up(first)
    await first.stop()
    await asyncio.wait_for(standby, 10)  # leadership passes on
    await append_many(store, factory, 50)
    await wait_caught_up(second)
    await second.stop()
    assert sum((await counts(pool)).values()) == 150


async def test_rebuild_reports_progress_and_matches(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    await append_many(store, factory, 300)
    runner = await start_runner(nc, pool, codec)
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    try:
        await wait_caught_up(runner)
        before = await counts(pool)
        assert await runner.rebuild(progress) == 300
        assert await counts(pool) == before
        assert seen[-1] == (300, 300) and all(t == 300 for _, t in seen)
    finally:
        await runner.stop()


async def test_trace_context_flows_from_append_to_apply(
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    store: JetStreamEventStore,
    factory: EventFactory,
) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    original = trace._TRACER_PROVIDER  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = provider  # type: ignore[attr-defined]
    try:
        runner = await start_runner(nc, pool, codec)
        with tracer.start_as_current_span("request") as root:
            await store.append([annotation(factory, "t", "traced")], None)
        await wait_caught_up(runner)
        await runner.stop()
    finally:
        trace._TRACER_PROVIDER = original  # type: ignore[attr-defined]
    spans = {s.name: s for s in exporter.get_finished_spans()}
    trace_id = root.get_span_context().trace_id
    assert spans["append evt.mesh.annotation.t"].context.trace_id == trace_id
    apply = spans["apply annotation-counts"]
    assert apply.context.trace_id == trace_id
    assert (
        apply.parent is not None
        and apply.parent.span_id == spans["append evt.mesh.annotation.t"].context.span_id
    )


def test_projection_names_are_validated() -> None:
    with pytest.raises(TypeError, match="name must match"):

        class Bad(CountingProjection):
            name = "Bad Name"
