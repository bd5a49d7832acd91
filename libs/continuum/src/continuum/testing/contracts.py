"""Contract suites every adapter / implementation of a backbone interface passes.

Subclass ``EventStoreContract`` with an ``event_store`` fixture, or
``ProjectionContract`` with ``projection``, ``sample_events`` and
``snapshot``; pytest collects the inherited tests (class names start with
``Test`` in the subclass).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from nats.aio.client import Client

from continuum.events import Envelope, EventCodec, EventFactory, SignatureError
from continuum.events.builtin import AnnotationAdded
from continuum.ids import uuid7_str
from continuum.projections import Projection, ProjectionRunner
from continuum.store import ConcurrencyError, EventStore


def annotation(factory: EventFactory, aggregate: str, text: str = "note") -> Envelope:
    return factory.new(AnnotationAdded(text=text), aggregate)


def new_aggregate() -> str:
    return uuid7_str().replace("-", "")


def subject_of(aggregate: str) -> str:
    return f"evt.mesh.annotation.{aggregate}"


class EventStoreContract:
    @pytest.fixture
    def event_store(self) -> EventStore:
        raise NotImplementedError

    async def test_an_append_across_aggregates_lands_whole_or_not_at_all(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        """One event per aggregate, each with its own expected version (a
        double-entry transaction: one event per account it touches)."""
        ann, bob = new_aggregate(), new_aggregate()
        first = [(annotation(factory, ann, "debit"), 0), (annotation(factory, bob, "credit"), 0)]
        recorded = await event_store.append_across(first)
        assert [r.seq for r in recorded] == [recorded[0].seq, recorded[0].seq + 1]
        assert not any(r.duplicate for r in recorded)
        again = await event_store.append_across(first)  # re-sent: the same events, no new ones
        assert all(r.duplicate for r in again)
        assert [r.seq for r in again] == [r.seq for r in recorded]
        stale = [
            (annotation(factory, ann, "debit 2"), recorded[0].seq),
            (annotation(factory, bob, "credit 2"), 0),  # bob moved: refuses both
        ]
        with pytest.raises(ConcurrencyError) as refused:
            await event_store.append_across(stale)
        assert refused.value.subject == subject_of(bob) and refused.value.actual == recorded[1].seq
        assert len(await event_store.load(subject_of(ann))) == 1  # nothing of the refused one
        with pytest.raises(ValueError, match="one event per aggregate"):
            await event_store.append_across([(annotation(factory, ann, "x"), None)] * 2)

    async def test_appends_and_loads_in_order(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        first = await event_store.append([annotation(factory, agg, "a")], 0)
        second = await event_store.append([annotation(factory, agg, "b")], first.version)
        loaded = await event_store.load(subject_of(agg))
        assert [s.event.payload.text for s in loaded] == ["a", "b"]  # type: ignore[attr-defined]
        assert [s.seq for s in loaded] == [first.version, second.version]
        assert second.version > first.version

    async def test_stale_expected_version_is_rejected_and_writes_nothing(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        first = await event_store.append([annotation(factory, agg, "a")], 0)
        await event_store.append([annotation(factory, agg, "b")], first.version)
        with pytest.raises(ConcurrencyError) as info:
            await event_store.append([annotation(factory, agg, "c")], first.version)
        assert info.value.expected == first.version
        assert len(await event_store.load(subject_of(agg))) == 2

    async def test_new_aggregate_expects_zero(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        await event_store.append([annotation(factory, agg)], 0)
        with pytest.raises(ConcurrencyError):
            await event_store.append([annotation(factory, agg)], 0)

    async def test_retried_append_is_stored_once(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        event = annotation(factory, agg)
        first = await event_store.append([event], 0)
        retry = await event_store.append([event], 0)
        assert retry.duplicate and retry.version == first.version
        assert len(await event_store.load(subject_of(agg))) == 1

    async def test_retried_batch_is_stored_once(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        batch = [annotation(factory, agg, str(i)) for i in range(3)]
        first = await event_store.append(batch, 0)
        retry = await event_store.append(batch, 0)
        assert retry.duplicate and retry.version == first.version
        assert len(await event_store.load(subject_of(agg))) == 3

    async def test_batch_is_all_or_nothing(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        head = await event_store.append([annotation(factory, agg, "head")], 0)
        await event_store.append([annotation(factory, agg, "other writer")], head.version)
        with pytest.raises(ConcurrencyError):
            await event_store.append(
                [annotation(factory, agg, str(i)) for i in range(5)], head.version
            )
        texts = [s.event.payload.text for s in await event_store.load(subject_of(agg))]  # type: ignore[attr-defined]
        assert texts == ["head", "other writer"]

    async def test_unchecked_append(self, event_store: EventStore, factory: EventFactory) -> None:
        agg = new_aggregate()
        await event_store.append([annotation(factory, agg)], None)
        await event_store.append([annotation(factory, agg)], None)
        assert len(await event_store.load(subject_of(agg))) == 2

    async def test_unknown_aggregate_loads_empty(self, event_store: EventStore) -> None:
        assert await event_store.load(subject_of(new_aggregate())) == []

    async def test_load_after_a_version(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        first = await event_store.append([annotation(factory, agg, "a")], 0)
        await event_store.append([annotation(factory, agg, "b")], first.version)
        later = await event_store.load(subject_of(agg), after=first.version)
        assert [s.event.payload.text for s in later] == ["b"]  # type: ignore[attr-defined]

    async def test_tampered_event_is_rejected_and_nothing_written(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        agg = new_aggregate()
        event = annotation(factory, agg, "honest")
        forged = Envelope.model_validate({**event.attributes(), "data": {"text": "forged"}})
        with pytest.raises(SignatureError):
            await event_store.append([annotation(factory, agg, "ok"), forged], 0)
        assert await event_store.load(subject_of(agg)) == []

    async def test_batch_must_target_one_aggregate(
        self, event_store: EventStore, factory: EventFactory
    ) -> None:
        with pytest.raises(ValueError, match="one aggregate"):
            await event_store.append(
                [annotation(factory, new_aggregate()), annotation(factory, new_aggregate())], 0
            )


def forged_signature(event: Envelope) -> Envelope:
    return event.model_copy(update={"signature": base64.b64encode(b"\0" * 64).decode()})


class ProjectionContract:
    """Properties every projection must have for the runner's guarantees to hold."""

    @pytest.fixture
    def projection(self) -> Projection:
        raise NotImplementedError

    @pytest.fixture
    def sample_events(self, factory: EventFactory) -> list[list[Envelope]]:
        """Appends (each a list of events for one aggregate) the projection consumes."""
        raise NotImplementedError

    async def snapshot(self, conn: asyncpg.Connection) -> Any:
        raise NotImplementedError

    async def _append_all(
        self, nc: Client, codec: EventCodec, appends: Sequence[list[Envelope]]
    ) -> None:
        from continuum.store import JetStreamEventStore

        store = JetStreamEventStore(nc, codec)
        for events in appends:
            await store.append(events, None)

    async def test_setup_is_idempotent(self, projection: Projection, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn:
            await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{projection.schema}"')
            await projection.setup(conn)
            await projection.setup(conn)

    async def test_rebuild_is_identical_and_redelivery_has_no_effect(
        self,
        projection: Projection,
        sample_events: list[list[Envelope]],
        nc: Client,
        pool: asyncpg.Pool,
        codec: EventCodec,
    ) -> None:
        await self._append_all(nc, codec, sample_events)
        runner = ProjectionRunner(projection, nc, pool, codec)
        await runner.start()
        try:
            await wait_caught_up(runner)
            async with pool.acquire() as conn:
                live = await self.snapshot(conn)
            assert live, "the sample events produced an empty read model"
            # Restarting re-anchors the consumer and re-reads recent messages:
            # nothing may change.
            await runner.stop()
            await runner.start()
            await wait_caught_up(runner)
            async with pool.acquire() as conn:
                assert await self.snapshot(conn) == live
            await runner.rebuild()
            async with pool.acquire() as conn:
                assert await self.snapshot(conn) == live
        finally:
            await runner.stop()


async def wait_caught_up(runner: ProjectionRunner, timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        if await runner.caught_up():
            return
        await asyncio.sleep(0.05)
    import io

    stacks = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(file=stacks)
    raise AssertionError(
        f"projection {runner.name} did not catch up: {await runner.status()}\n{stacks.getvalue()}"
    )
