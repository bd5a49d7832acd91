"""The scheduler service: the ThoughtStream, wired to NATS.

It replays the chat context on start (rooms, members, the turn log) and
then follows it; bids arrive as requests on ``cmd.scheduler.bid``;
persona-runtimes announce their personas on ``presence.personas`` and their
generations' progress on ``live.chat.<room>``; a grant is a
``TurnDecided`` event and a preemption is a message on ``ctl.chat.<room>``
(plus its ``TurnPreempted`` event).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from continuum.chat import RoomDirectory
from continuum.chat.signals import (
    LIVE_SUBJECTS,
    PRESENCE_SUBJECT,
    LivePiece,
    Presence,
    room_of,
)
from continuum.contracts import command
from continuum.contracts.commands import BidRequest, BidStatus
from continuum.events.chat import MessagePosted, TurnDecided, TurnEnded
from continuum.runtime import RequestError, Service, ServiceContext
from continuum.runtime.follow import LogFollower
from continuum.runtime.timestamps import event_time
from continuum.store.base import StoredEvent
from continuum_scheduler.thoughtstream import PRESENCE_GRACE_S, ThoughtStream
from continuum_scheduler.turnlog import NatsTurnLog

log = logging.getLogger("continuum.scheduler")

WATCHDOG_INTERVAL_S = 0.25


class SchedulerService(Service):
    name = "scheduler"
    description = "The ThoughtStream: arbitrates who speaks in each room"
    schema = "scheduler"

    def __init__(self) -> None:
        self._follower: LogFollower | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def health_details(self) -> dict[str, Any]:
        stream = getattr(self, "stream", None)
        return {"personas_present": len(stream.present_anywhere()) if stream else 0}

    async def on_start(self, ctx: ServiceContext) -> None:
        rooms = RoomDirectory()
        stream = ThoughtStream(rooms, NatsTurnLog(ctx))
        self.stream = stream

        async def handle(stored: StoredEvent, live: bool) -> None:
            envelope, payload = stored.event.envelope, stored.event.payload
            room_id = envelope.subject
            if envelope.type.startswith("continuum.chat.room."):
                rooms.apply(room_id, payload)
                if isinstance(payload, MessagePosted):
                    await stream.message(room_id, payload, event_time(envelope), live)
            elif not live and isinstance(payload, TurnDecided):
                stream.replayed_decision(room_id, payload, event_time(envelope))
            elif not live and isinstance(payload, TurnEnded):
                stream.replayed_end(room_id, payload)

        self._follower = ctx.follower("EVT_CHAT", "evt.chat.>", handle)
        await self._follower.start()
        await self._follower.caught_up()

        async def presence(_: str, signal: Presence) -> None:
            stream.seen(signal.personas)

        async def activity(subject: str, piece: LivePiece) -> None:
            room_id = room_of(subject)
            if room_id is not None:
                stream.activity(room_id, piece.turn_id, piece.persona_id)

        await ctx.subscribe(
            PRESENCE_SUBJECT, Presence, presence, summary="Personas present (heartbeat)."
        )
        await ctx.subscribe(
            LIVE_SUBJECTS, LivePiece, activity, summary="Generation progress: a turn's heartbeat."
        )

        async def bid(request: BidRequest) -> BidStatus:
            if rooms.get(request.room_id) is None:
                raise RequestError(f"unknown room {request.room_id!r}", 404)
            status = await stream.bid(request.room_id, request.trigger_message_id, request.bid)
            return BidStatus(status=status)

        await ctx.command(command("scheduler", "bid"), bid)
        self._tasks.append(asyncio.create_task(self._catch_up(stream)))
        self._tasks.append(asyncio.create_task(self._watchdog(stream)))

    async def _catch_up(self, stream: ThoughtStream) -> None:
        """Answer what came while we were down, once we know who is present
        (a window closes early when every present persona has bid: with
        nobody known yet, it would close at once, empty)."""
        await asyncio.sleep(PRESENCE_GRACE_S)
        try:
            await stream.catch_up()
        except Exception:
            log.exception("catching up on missed messages failed")

    async def _watchdog(self, stream: ThoughtStream) -> None:
        while True:
            await asyncio.sleep(WATCHDOG_INTERVAL_S)
            try:
                await stream.watchdog()
            except Exception:
                log.exception("turn watchdog failed")

    async def on_stop(self, ctx: ServiceContext) -> None:
        for task in self._tasks:
            task.cancel()
        if self._follower is not None:
            await self._follower.stop()
