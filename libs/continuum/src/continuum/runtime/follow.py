"""Replay a stream from its start, then follow it live.

Services that *react* to events (the scheduler arbitrating a room,
persona-runtime answering in it) keep their working state in memory and
rebuild it on every start by replaying the log, then keep it current. The
handler is told whether an event is history (state only: never react to
it twice) or live. Whatever a reaction appends carries a deterministic id or
an expected version, so a reaction repeated after a crash has no second
effect; the log itself is the tracking record.

The follower is a FastStream subscriber: an ordered push consumer
(ephemeral, re-created by nats-py after a gap) on a stream the bootstrap
declared (``declare=False``: a service never creates or changes a stream).
Nothing is acknowledged: an ordered consumer keeps no acknowledgement state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy
from opentelemetry.trace import SpanKind

from continuum import telemetry
from continuum.events.codec import EventCodec
from continuum.events.errors import EventError
from continuum.runtime.replies import raw_body
from continuum.store.base import StoredEvent

log = logging.getLogger("continuum.follow")

Handler = Callable[[StoredEvent, bool], Awaitable[None]]


class History:
    """Where each followed stream's history ends, so the broker's telemetry
    can leave replayed events untraced (``LiveTelemetry``)."""

    def __init__(self) -> None:
        self.ends: dict[str, int] = {}

    def replaying(self, msg: Msg) -> bool:
        if not (msg.reply or "").startswith("$JS.ACK."):
            return False
        try:
            meta = msg.metadata
        except Exception:
            return False
        return meta.sequence.stream <= self.ends.get(meta.stream, 0)


class LogFollower:
    """Feeds every event of ``subject`` in ``stream`` to ``handler(event, live)``."""

    def __init__(
        self,
        broker: NatsBroker,
        codec: EventCodec,
        stream: str,
        subject: str,
        handler: Handler,
        history: History | None = None,
    ) -> None:
        self._broker = broker
        self._codec = codec
        self._stream = stream
        self._subject = subject
        self._handler = handler
        self._history = history or History()
        self._subscriber: Any = None
        self._history_end = 0
        self._caught_up = asyncio.Event()
        self.position = 0
        #: The last stream sequence fully handled.
        self.handled = 0

    async def start(self) -> None:
        # Stream metadata has no FastStream API; the JetStream context does.
        info = await self._broker.connection.jetstream().stream_info(self._stream)
        self._history_end = int(info.state.last_seq or 0)
        self._history.ends[self._stream] = max(
            self._history.ends.get(self._stream, 0), self._history_end
        )
        if self._history_end == 0:
            self._caught_up.set()
        subscriber = self._broker.subscriber(
            self._subject,
            stream=JStream(self._stream, declare=False),
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.MANUAL,
            persistent=False,
            decoder=raw_body,
            title=f"{self._subject} (replay, then follow)",
        )
        subscriber(self._receive)
        await subscriber.start()
        self._subscriber = subscriber

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
        if self._subscriber is not None:
            with contextlib.suppress(Exception):
                await self._subscriber.stop()
            self._subscriber = None

    async def _receive(self, message: NatsMessage) -> None:
        msg: Msg = message.raw_message
        seq = msg.metadata.sequence.stream
        if seq <= self.position:
            return  # an ordered consumer re-created after a gap repeats nothing we need
        self.position = seq
        live = seq > self._history_end
        try:
            event = self._codec.decode(msg.data, msg.headers, msg.subject)
        except EventError as exc:
            log.warning("skipping %s #%d: %s", self._stream, seq, exc)
        else:
            try:
                await self._handle(StoredEvent(event, self._stream, seq), live)
            except Exception:
                log.exception("handling %s #%d failed", self._stream, seq)
        self.handled = seq
        if live or seq >= self._history_end:
            self._caught_up.set()

    async def _handle(self, event: StoredEvent, live: bool) -> None:
        """A live event is handled in a span named after what it is, inside
        the consumer span FastStream's telemetry opened from the event's
        ``traceparent``: what a service does in reaction (a bid, a decision,
        an answer) joins the trace of the message that caused it."""
        if not live or not telemetry.recording():
            await self._handler(event, live)
            return
        with telemetry.tracer().start_as_current_span(
            f"react {event.event.envelope.type}", kind=SpanKind.CONSUMER
        ):
            await self._handler(event, live)
