"""LogFollower: history first (not live), then live events, and read-your-writes."""

from __future__ import annotations

import asyncio

from faststream.nats import NatsBroker

from continuum.events import EventCodec, EventFactory
from continuum.events.builtin import AnnotationAdded
from continuum.runtime.follow import LogFollower
from continuum.store import JetStreamEventStore, StoredEvent


async def test_replays_history_then_follows_live_events(
    broker: NatsBroker, store: JetStreamEventStore, factory: EventFactory, codec: EventCodec
) -> None:
    for i in range(3):
        await store.append([factory.new(AnnotationAdded(text=f"old {i}"), f"a{i}")], 0)
    seen: list[tuple[str, bool]] = []

    async def handle(event: StoredEvent, live: bool) -> None:
        seen.append((event.event.payload.text, live))  # type: ignore[attr-defined]

    follower = LogFollower(broker, codec, "EVT_MESH", "evt.mesh.>", handle)
    await follower.start()
    try:
        await follower.caught_up(10)
        assert seen == [("old 0", False), ("old 1", False), ("old 2", False)]
        result = await store.append([factory.new(AnnotationAdded(text="new"), "b")], 0)
        await follower.reached(result.version)
        assert follower.handled == result.version
        assert seen[-1] == ("new", True)
    finally:
        await follower.stop()


async def test_an_empty_stream_is_caught_up_at_once(broker: NatsBroker, codec: EventCodec) -> None:
    async def handle(event: StoredEvent, live: bool) -> None:
        raise AssertionError("nothing to handle")

    follower = LogFollower(broker, codec, "EVT_CHAT", "evt.chat.>", handle)
    await follower.start()
    try:
        await asyncio.wait_for(follower.caught_up(), 1)
    finally:
        await follower.stop()
