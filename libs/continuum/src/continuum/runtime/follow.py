"""Replay a stream from its start, then follow it live.

Services that *react* to events (the scheduler arbitrating a room,
persona-runtime answering in it) keep their working state in memory and
rebuild it on every start by replaying the log, then keep it current. The
handler is told whether an event is history (state only: never react to
it twice) or live. Whatever a reaction appends carries a deterministic id or
an expected version, so a reaction repeated after a crash has no second
effect; the log itself is the tracking record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind

from continuum import telemetry
from continuum.events.codec import EventCodec
from continuum.events.errors import EventError
from continuum.store.base import StoredEvent

log = logging.getLogger("continuum.follow")

Handler = Callable[[StoredEvent, bool], Awaitable[None]]


class LogFollower:
    """Feeds every event of ``subject`` in ``stream`` to ``handler(event, live)``."""

    def __init__(
        self, nc: Client, codec: EventCodec, stream: str, subject: str, handler: Handler
    ) -> None:
        self._js = nc.jetstream()
        self._codec = codec
        self._stream = stream
        self._subject = subject
        self._handler = handler
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._sub: object | None = None
        self._task: asyncio.Task[None] | None = None
        self._history_end = 0
        self._caught_up = asyncio.Event()
        self.position = 0
        #: The last stream sequence fully handled.
        self.handled = 0

    async def start(self) -> None:
        info = await self._js.stream_info(self._stream)
        self._history_end = int(info.state.last_seq or 0)
        if self._history_end == 0:
            self._caught_up.set()
        self._sub = await self._js.subscribe(
            self._subject,
            stream=self._stream,
            cb=self._queue.put,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        self._task = asyncio.create_task(self._run(), name=f"follow-{self._stream}")

    async def caught_up(self, timeout: float = 60.0) -> None:
        """Wait until the history that existed at ``start`` has been replayed."""
        await asyncio.wait_for(self._caught_up.wait(), timeout)

    async def reached(self, seq: int, timeout: float = 5.0) -> None:
        """Wait until the event at stream sequence ``seq`` has been handled
        (read-your-writes for a service answering with its own state)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.handled < seq and loop.time() < deadline:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()  # type: ignore[attr-defined]
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _handle(self, event: StoredEvent, live: bool, msg: Msg) -> None:
        """Live events are handled in a span that continues the trace the event
        was appended in, so what a service does in reaction (a bid, a decision,
        an answer) joins the trace of the message that caused it."""
        if not live or not telemetry.recording():
            await self._handler(event, live)
            return
        with telemetry.tracer().start_as_current_span(
            f"react {event.event.envelope.type}",
            context=telemetry.extract(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.destination.name": msg.subject},
        ):
            await self._handler(event, live)

    async def _run(self) -> None:
        while True:
            msg = await self._queue.get()
            seq = msg.metadata.sequence.stream
            if seq <= self.position:
                continue
            self.position = seq
            live = seq > self._history_end
            try:
                event = self._codec.decode(msg.data, msg.headers, msg.subject)
            except EventError as exc:
                log.warning("skipping %s #%d: %s", self._stream, seq, exc)
            else:
                try:
                    await self._handle(StoredEvent(event, self._stream, seq), live, msg)
                except Exception:
                    log.exception("handling %s #%d failed", self._stream, seq)
            self.handled = seq
            if live or seq >= self._history_end:
                self._caught_up.set()
