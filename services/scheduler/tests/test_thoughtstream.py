"""The ThoughtStream's state machine, in process: windows, grants, preemption,
the watchdog and catch-up. Its outbox records what would go to NATS."""

from __future__ import annotations

import asyncio
import time

import pytest

from continuum.chat import RoomDirectory
from continuum.events.chat import (
    Bid,
    MemberJoined,
    MessagePosted,
    RoomCreated,
    RoomPolicy,
    TurnDecided,
    TurnEnded,
    TurnPreempted,
)
from continuum_scheduler import thoughtstream
from continuum_scheduler.thoughtstream import ThoughtStream


class Outbox:
    def __init__(self) -> None:
        self.decisions: list[TurnDecided] = []
        self.preemptions: list[TurnPreempted] = []
        self.ends: list[TurnEnded] = []
        self.cancels: list[tuple[str, str]] = []
        self.calls: list[str] = []

    async def decided(self, room_id: str, decision: TurnDecided) -> None:
        self.decisions.append(decision)

    async def preempted(self, room_id: str, event: TurnPreempted) -> None:
        self.preemptions.append(event)

    async def ended(self, room_id: str, event: TurnEnded) -> None:
        self.ends.append(event)

    async def cancel(self, room_id: str, turn_id: str, persona_id: str, reason: str) -> None:
        self.cancels.append((turn_id, persona_id))

    async def call_for_bids(self, room_id: str, message_id: str) -> None:
        self.calls.append(message_id)


PERSONAS = ["a", "b", "c"]


def stream_with(**policy: object) -> tuple[ThoughtStream, Outbox]:
    rooms = RoomDirectory()
    rooms.apply("r", RoomCreated(name="R", created_by="t", policy=RoomPolicy(**policy)))  # type: ignore[arg-type]
    for pid in PERSONAS:
        rooms.apply("r", MemberJoined(member_id=pid, kind="persona", name=pid.upper()))
    outbox = Outbox()
    stream = ThoughtStream(rooms, outbox)
    stream.started -= thoughtstream.PRESENCE_GRACE_S
    stream.seen(PERSONAS)
    return stream, outbox


def human(message_id: str, text: str = "hello", mentions: list[str] | None = None) -> MessagePosted:
    return MessagePosted(
        message_id=message_id,
        author_id="human-ada",
        author_kind="human",
        author_name="Ada",
        text=text,
        mentions=mentions or [],
    )


def bid(pid: str, confidence: float = 0.5, priority: int = 100) -> Bid:
    return Bid(persona_id=pid, name=pid.upper(), priority=priority, confidence=confidence)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_the_window_closes_as_soon_as_every_present_persona_has_bid() -> None:
    stream, outbox = stream_with(window_ms=10_000)
    await stream.message("r", human("m1"), time.time(), live=True)
    for pid, conf in zip(PERSONAS, (0.4, 0.9, 0.5), strict=True):
        assert await stream.bid("r", "m1", bid(pid, conf)) == "accepted"
    await settle()
    assert [d.winners for d in outbox.decisions] == [["b"]]
    assert outbox.decisions[0].missing == []
    assert await stream.bid("r", "m1", bid("a")) == "late"


async def test_a_window_times_out_naming_who_did_not_bid() -> None:
    stream, outbox = stream_with(window_ms=50)
    await stream.message("r", human("m1"), time.time(), live=True)
    await stream.bid("r", "m1", bid("a", 0.9))
    await asyncio.sleep(0.15)
    decision = outbox.decisions[0]
    assert decision.winners == ["a"] and decision.missing == ["b", "c"]
    assert decision.window_ms >= 45


async def test_a_bid_that_overtakes_its_message_is_kept_for_the_window() -> None:
    stream, outbox = stream_with(window_ms=10_000)
    assert await stream.bid("r", "m1", bid("c", 0.9)) == "early"
    await stream.message("r", human("m1"), time.time(), live=True)
    await stream.bid("r", "m1", bid("a"))
    await stream.bid("r", "m1", bid("b"))
    await settle()
    assert outbox.decisions[0].winners == ["c"]


async def grant(stream: ThoughtStream, outbox: Outbox, message_id: str, winner: str) -> str:
    await stream.message("r", human(message_id), time.time(), live=True)
    for pid in PERSONAS:
        await stream.bid("r", message_id, bid(pid, 0.9 if pid == winner else 0.4))
    await settle()
    decision = outbox.decisions[-1]
    assert decision.winners == [winner]
    return decision.turn_id


@pytest.mark.parametrize("policy", ["interrupt", "queue", "reject"])
async def test_preemption_policies(policy: str) -> None:
    stream, outbox = stream_with(window_ms=10_000, preemption=policy)
    turn = await grant(stream, outbox, "m1", "a")
    await stream.message("r", human("m2"), time.time(), live=True)
    assert outbox.preemptions[0].action == policy
    if policy == "interrupt":
        assert outbox.cancels == [(turn, "a")]
        assert "m2" in stream.room("r").windows
    elif policy == "queue":
        assert outbox.cancels == [] and "m2" not in stream.room("r").windows
        done = MessagePosted(
            message_id="a1",
            author_id="a",
            author_kind="persona",
            author_name="A",
            text="done",
            turn_id=turn,
        )
        await stream.message("r", done, time.time(), live=True)
        assert outbox.ends[0].outcome == "complete"
        assert "m2" in stream.room("r").windows  # its turn came
    else:
        assert outbox.cancels == [] and "m2" not in stream.room("r").windows
        assert "m2" in stream.decided_triggers


async def test_a_lower_priority_mention_waits_its_turn() -> None:
    stream, outbox = stream_with(window_ms=10_000)
    await grant(stream, outbox, "m1", "a")
    note = MessagePosted(
        message_id="p1",
        author_id="c",
        author_kind="persona",
        author_name="C",
        text="@b over to you",
        mentions=["b"],
    )
    await stream.message("r", note, time.time(), live=True)
    assert outbox.preemptions == [] and stream.room("r").queued


async def test_the_watchdog_abandons_a_silent_turn_and_regrants() -> None:
    stream, outbox = stream_with(window_ms=10_000, stall_s=0.5)
    turn = await grant(stream, outbox, "m1", "a")
    for active in stream.room("r").active.values():
        active.last_activity -= 1.0
    await stream.watchdog()
    assert outbox.ends[0].outcome == "abandoned" and outbox.ends[0].turn_id == turn
    regrant = outbox.decisions[-1]
    assert regrant.regrant_of == turn and regrant.winners == ["b"]  # next best; ties by id


async def test_catch_up_answers_recent_unanswered_messages_only() -> None:
    stream, outbox = stream_with(window_ms=10_000)
    await stream.message("r", human("old"), time.time() - 3600, live=False)
    await stream.message("r", human("recent"), time.time() - 5, live=False)
    await stream.catch_up()
    assert outbox.calls == ["recent"]
    assert set(stream.room("r").windows) == {"recent"}


async def test_with_nobody_known_to_be_present_the_window_runs_its_course() -> None:
    stream, outbox = stream_with(window_ms=100)
    stream.presence.clear()
    await stream.message("r", human("m1"), time.time(), live=True)
    await settle()
    assert outbox.decisions == []
    await stream.bid("r", "m1", bid("a", 0.9))  # a persona announced late still gets in
    await asyncio.sleep(0.2)
    assert outbox.decisions[0].winners == ["a"]


async def test_a_mention_of_a_higher_priority_persona_preempts() -> None:
    stream, outbox = stream_with(window_ms=10_000)
    await stream.message("r", human("m0"), time.time(), live=True)
    await stream.bid("r", "m0", bid("a", 0.9, priority=50))
    await stream.bid("r", "m0", bid("b", 0.1, priority=200))
    await stream.bid("r", "m0", bid("c", 0.1, priority=60))
    await settle()
    assert outbox.decisions[-1].winners == ["a"]
    note = MessagePosted(
        message_id="p1",
        author_id="c",
        author_kind="persona",
        author_name="C",
        text="@b you should take this",
        mentions=["b"],
    )
    await stream.message("r", note, time.time(), live=True)
    assert [p.persona_id for p in outbox.preemptions] == ["a"]
    assert "an @mention" in outbox.preemptions[0].reason
