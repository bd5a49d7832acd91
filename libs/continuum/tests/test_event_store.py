"""The event store: contract on both adapters, races, and server restarts."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client

from continuum.events import EventCodec, EventFactory
from continuum.node.embedded import NatsServer
from continuum.runtime.connections import connect_nats
from continuum.store import (
    ConcurrencyError,
    EventStore,
    EventStoreError,
    InMemoryEventStore,
    JetStreamEventStore,
)
from continuum.testing.contracts import EventStoreContract, annotation, new_aggregate, subject_of


class TestJetStreamEventStore(EventStoreContract):
    @pytest.fixture
    def event_store(self, store: JetStreamEventStore) -> EventStore:
        return store


class TestInMemoryEventStore(EventStoreContract):
    @pytest.fixture
    def event_store(self, codec: EventCodec) -> EventStore:
        return InMemoryEventStore(codec)


async def test_racing_writers_exactly_one_wins_per_version(
    nc: Client, nats_server: NatsServer, codec: EventCodec, factory: EventFactory
) -> None:
    """Ten writers on separate connections race for each of 20 versions."""
    agg = new_aggregate()
    clients = [await connect_nats(nats_server.url, name=f"w{i}") for i in range(10)]
    stores = [JetStreamEventStore(c, codec) for c in clients]
    version = 0
    try:
        for round_ in range(20):
            results = await asyncio.gather(
                *(
                    s.append([annotation(factory, agg, f"{round_}:{i}")], version)
                    for i, s in enumerate(stores)
                ),
                return_exceptions=True,
            )
            winners = [r for r in results if not isinstance(r, BaseException)]
            losers = [r for r in results if isinstance(r, BaseException)]
            assert len(winners) == 1, results
            assert all(isinstance(r, ConcurrencyError) for r in losers)
            version = winners[0].version
    finally:
        for c in clients:
            await c.close()
    loaded = await JetStreamEventStore(nc, codec).load(subject_of(agg))
    assert len(loaded) == 20
    assert [s.event.payload.text.split(":")[0] for s in loaded] == [str(i) for i in range(20)]  # type: ignore[attr-defined]


async def test_no_stream_gives_a_clear_error(
    nats_server: NatsServer, codec: EventCodec, factory: EventFactory
) -> None:
    bare = await connect_nats(nats_server.url, name="bare")  # no bootstrap on this server
    try:
        with pytest.raises(EventStoreError, match="no stream accepts"):
            await JetStreamEventStore(bare, codec).append([annotation(factory, new_aggregate())], 0)
    finally:
        await bare.close()


@pytest.mark.slow
async def test_restarting_nats_under_load_loses_no_acknowledged_event(
    nats_server: NatsServer, codec: EventCodec, factory: EventFactory
) -> None:
    from continuum.store import Topology

    nc = await connect_nats(nats_server.url, name="load")
    await Topology(65536).bootstrap(nc.jetstream())
    store = JetStreamEventStore(nc, codec, timeout=2.0)
    acknowledged: dict[str, list[str]] = {}
    stop = asyncio.Event()

    async def writer(n: int) -> None:
        agg = f"load-{n}"
        acknowledged[agg] = []
        i = 0
        while not stop.is_set():
            event = annotation(factory, agg, f"{n}-{i}")
            try:
                await store.append([event], None)
            except Exception:
                await asyncio.sleep(0.05)
                continue  # not acknowledged: the writer may retry or give up
            acknowledged[agg].append(event.id)
            i += 1

    writers = [asyncio.create_task(writer(n)) for n in range(4)]
    await asyncio.sleep(1.0)
    before = sum(len(v) for v in acknowledged.values())
    await asyncio.to_thread(nats_server.kill)  # SIGKILL: no graceful flush
    await asyncio.sleep(0.3)
    await asyncio.to_thread(nats_server.start)
    await asyncio.sleep(2.0)
    stop.set()
    await asyncio.gather(*writers)
    after = sum(len(v) for v in acknowledged.values())
    assert after > before, "writers did not resume after the restart"
    for agg, ids in acknowledged.items():
        stored = [s.event.envelope.id for s in await store.load(f"evt.mesh.annotation.{agg}")]
        missing = set(ids) - set(stored)
        assert not missing, f"{len(missing)} acknowledged events lost on {agg}"
    await nc.close()


async def test_oversize_event_is_refused_and_nothing_written(
    nc: Client, factory: EventFactory
) -> None:
    from continuum.events import EventTooLarge
    from continuum.events.builtin import AnnotationAdded

    small = JetStreamEventStore(nc, EventCodec(1024))
    agg = new_aggregate()
    big = factory.new(AnnotationAdded(text="x" * 1500), agg)
    with pytest.raises(EventTooLarge, match="the limit is 1024"):
        await small.append([annotation(factory, agg), big], 0)
    assert await small.load(subject_of(agg)) == []


async def test_appends_are_sealed_for_consumers_of_this_node(
    nc: Client, identity: object, factory: EventFactory
) -> None:
    from continuum.events.seal import SEAL_HEADER, seal_is_valid

    key = identity.seal_key  # type: ignore[attr-defined]
    store = JetStreamEventStore(nc, EventCodec(65536, seal_key=key))
    agg = new_aggregate()
    result = await store.append([annotation(factory, agg)], 0)
    raw = await nc.jetstream().get_msg("EVT_MESH", result.version)
    assert raw.headers is not None and raw.data is not None
    assert seal_is_valid(key, subject_of(agg), raw.data, raw.headers[SEAL_HEADER])


async def test_racing_transfers_from_one_account_land_one_at_a_time(
    nc: Client, nats_server: NatsServer, codec: EventCodec, factory: EventFactory
) -> None:
    """Twenty transfers out of one shared account, each to its own account,
    all racing from the same read: each round exactly one lands; the losers
    re-read and retry until every transfer is in, once."""
    pool = new_aggregate()
    targets = [new_aggregate() for _ in range(20)]
    clients = [await connect_nats(nats_server.url, name=f"t{i}") for i in range(4)]
    stores = [JetStreamEventStore(c, codec) for c in clients]
    seed = await JetStreamEventStore(nc, codec).append([annotation(factory, pool, "open")], 0)
    moved: set[str] = set()

    async def transfer(i: int) -> int:
        store, attempts = stores[i % len(stores)], 0
        version = seed.version
        while True:
            attempts += 1
            writes = [
                (annotation(factory, pool, f"out {i}"), version),
                (annotation(factory, targets[i], f"in {i}"), 0),
            ]
            try:
                await store.append_across(writes)
                return attempts
            except ConcurrencyError as exc:
                moved.add(exc.subject)
                version = exc.actual or version

    try:
        attempts = await asyncio.gather(*(transfer(i) for i in range(20)))
    finally:
        for c in clients:
            await c.close()
    reader = JetStreamEventStore(nc, codec)
    outs = [s.event.payload.text for s in await reader.load(subject_of(pool))]  # type: ignore[attr-defined]
    assert sorted(outs[1:]) == sorted(f"out {i}" for i in range(20)) and outs[0] == "open"
    for i, target in enumerate(targets):
        ins = [s.event.payload.text for s in await reader.load(subject_of(target))]  # type: ignore[attr-defined]
        assert ins == [f"in {i}"]
    assert max(attempts) > 1 and moved == {subject_of(pool)}  # they raced on the pool only
