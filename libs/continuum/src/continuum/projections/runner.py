"""Runs one projection: durable pull consumers in, exactly-once effects out.

Delivery is at-least-once; the effect is exactly-once because every batch is
applied in one Postgres transaction that first locks the projection's
checkpoint, skips what it already covers, and advances it on commit. The
checkpoint, not JetStream's consumer state, is the source of truth: each time
a consumer loop starts it re-anchors its durable consumer at checkpoint + 1,
which also restores strict stream order after a crash.

Failures are sorted into two kinds. Infrastructure faults (Postgres or NATS
unreachable) are retried forever with backoff; nothing is dead-lettered for
them. A bad event (fails decoding/validation/signature) or a handler that
keeps raising is dead-lettered with the reason after ``RetryPolicy`` attempts,
and the projection moves on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from continuum import telemetry
from continuum.events.codec import EventCodec
from continuum.events.errors import EventError
from continuum.projections import checkpoints
from continuum.projections.deadletters import DeadLetter, DeadLetterQueue
from continuum.projections.projection import Projection, Subscription
from continuum.store.base import StoredEvent

log = logging.getLogger("continuum.projections")

ProgressCallback = Callable[[int, int], Awaitable[None]]

#: Fetched batches decoded ahead of the one being applied.
_PIPELINE_DEPTH = 4
#: Batches smaller than this are decoded inline (a thread hand-off costs more).
_THREAD_DECODE_MIN = 32
#: How long a busy fetch may wait to fill its batch.
_BUSY_FETCH_S = 0.005
#: Most messages applied in one transaction when coalescing queued batches.
_MAX_COALESCED = 2000
_decoder_pool: ThreadPoolExecutor | None = None


def _decoders() -> ThreadPoolExecutor:
    """Threads shared by every runner in the process for decoding and verifying."""
    global _decoder_pool
    if _decoder_pool is None:
        _decoder_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="continuum-decode")
    return _decoder_pool


#: Faults of the surroundings, not of the event: retry forever, never dead-letter.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.LockNotAvailableError,
    asyncpg.exceptions.QueryCanceledError,
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.AdminShutdownError,
    nats.errors.ConnectionClosedError,
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
)


_ACQUIRE_TIMEOUT_S = 30.0
#: Errors after which a connection's protocol state cannot be trusted.
_BROKEN_CONNECTION: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failing event is tried before it is dead-lettered."""

    max_deliver: int = 5
    backoff: tuple[float, ...] = (0.05, 0.2, 0.5, 1.0, 2.0)

    def delay(self, attempt: int) -> float:
        return self.backoff[min(attempt - 1, len(self.backoff) - 1)]


@dataclass
class _Item:
    msg: Msg
    seq: int
    stored: StoredEvent | None
    rejection: str | None = None


@dataclass
class _Counters:
    applied: int = 0
    dead_lettered: int = 0


class ProjectionRunner:
    def __init__(
        self,
        projection: Projection,
        nc: Client,
        pool: asyncpg.Pool,
        codec: EventCodec,
        *,
        retry: RetryPolicy | None = None,
        batch_size: int = 500,
        ack_wait: float = 30.0,
    ) -> None:
        self.projection = projection
        self._nc = nc
        self._js = nc.jetstream()
        self._pool = pool
        self._codec = codec
        self._retry = retry or RetryPolicy()
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._dlq = DeadLetterQueue(nc)
        self._tasks: list[asyncio.Task[None]] = []
        self._leader: asyncpg.Connection | None = None
        self._stopping = False
        self._lock = asyncio.Lock()
        self.counters = _Counters()

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def _schema(self) -> str:
        return self.projection.schema

    # -- lifecycle -----------------------------------------------------------

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            await checkpoints.ensure_tables(conn, self._schema)
            await self.projection.setup(conn)
        await self._become_leader()
        self._stopping = False
        await self._start_loops()

    async def stop(self) -> None:
        self._stopping = True
        await self._stop_loops()
        if self._leader is not None:
            with contextlib.suppress(Exception):
                await self._pool.release(self._leader)
            self._leader = None

    async def _become_leader(self) -> None:
        """Hold a Postgres advisory lock so one runner per projection applies events."""
        conn = await self._pool.acquire()
        key = f"continuum.projection:{self._schema}.{self.name}"
        while not await conn.fetchval("SELECT pg_try_advisory_lock(hashtextextended($1, 0))", key):
            log.info("projection %s is led by another process; waiting", self.name)
            await asyncio.sleep(1.0)
        self._leader = conn

    async def _start_loops(self) -> None:
        """Anchor every consumer first, so callers see the new position at once."""
        anchored = [(sub, await self._anchor(sub)) for sub in self.projection.subscriptions]
        self._tasks = [
            asyncio.create_task(
                self._consume(sub, psub), name=f"projection:{self.name}:{sub.stream}"
            )
            for sub, psub in anchored
        ]

    async def _stop_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    # -- consuming -----------------------------------------------------------

    async def _anchor(self, sub: Subscription) -> Any:
        """(Re)create the durable consumer at checkpoint + 1 and bind to it."""
        async with self._pool.acquire() as conn:
            position = await checkpoints.position(conn, self._schema, self.name, sub.stream)
        durable = self.projection.consumer_name
        with contextlib.suppress(NotFoundError):
            await self._js.delete_consumer(sub.stream, durable)
        config = ConsumerConfig(
            durable_name=durable,
            description=f"projection {self.name}",
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=position + 1,
            ack_policy=AckPolicy.ALL,
            ack_wait=self._ack_wait,
            max_deliver=-1,
            max_ack_pending=self._batch_size * 4,
            filter_subjects=list(sub.subjects),
        )
        await self._js.add_consumer(sub.stream, config)
        return await self._js.pull_subscribe_bind(durable, stream=sub.stream)

    async def _consume(self, sub: Subscription, psub: Any) -> None:
        failures = 0
        try:
            while not self._stopping:
                try:
                    if psub is None:
                        psub = await self._anchor(sub)
                        failures = 0
                    await self._pipeline(sub.stream, psub)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    delay = min(0.2 * 2**failures, 10.0)
                    log.warning(
                        "projection %s on %s: %s: %s; resuming from checkpoint in %.1fs",
                        self.name,
                        sub.stream,
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    await _unsubscribe(psub)
                    psub = None
                    await asyncio.sleep(delay)
        finally:
            await _unsubscribe(psub)

    async def _pipeline(self, stream: str, psub: Any) -> None:
        """Fetch -> decode (worker threads) -> apply, overlapped, applied in order.

        Signature checks release the GIL, so decoding on threads lets the event
        loop keep fetching and committing while the next batches are verified.
        A failure anywhere ends the pipeline; the caller re-anchors at the
        checkpoint, so nothing decoded-but-unapplied is lost.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[list[Msg], asyncio.Future[list[_Item]]]] = asyncio.Queue(
            maxsize=_PIPELINE_DEPTH
        )

        async def fetcher() -> None:
            # nats-py's fetch, once its no-wait probe finds nothing, long-polls
            # and holds a first arrival until the batch fills or the timeout
            # ends. So: while the backlog is drained, long-poll for ONE message
            # (returned on arrival); after it, grab what accumulated with a
            # short busy fetch; stay busy while batches come back full.
            idle = True
            while not self._stopping and not ended.is_set():
                try:
                    if idle:
                        msgs = await psub.fetch(1, timeout=1.0)
                    else:
                        msgs = await psub.fetch(self._batch_size, timeout=_BUSY_FETCH_S)
                except (nats.errors.TimeoutError, TimeoutError):
                    idle = True
                    continue
                idle = not idle and len(msgs) < self._batch_size
                if not msgs:
                    continue
                decoded: asyncio.Future[list[_Item]]
                if len(msgs) < _THREAD_DECODE_MIN:
                    decoded = loop.create_future()
                    decoded.set_result(self._decode_all(stream, msgs))
                else:
                    decoded = loop.run_in_executor(_decoders(), self._decode_all, stream, msgs)
                await queue.put((msgs, decoded))

        ended = asyncio.Event()
        fetching = asyncio.create_task(fetcher())
        try:
            while True:
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, fetching}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    fetching.result()  # re-raise the fetcher's failure
                    return
                msgs, decoded = getter.result()
                items = await decoded
                # Coalesce whatever else is already waiting into the same
                # transaction: commits stay few when events trickle in one by one.
                while not queue.empty() and len(msgs) < _MAX_COALESCED:
                    more_msgs, more = queue.get_nowait()
                    msgs = msgs + more_msgs
                    items = items + await more
                await self._process(stream, msgs, items)
        finally:
            # Cancellation alone is not enough: on Python 3.11 a cancel that
            # races with a completing fetch is lost inside asyncio.wait_for, and
            # the fetcher would then block forever on a full queue.
            ended.set()
            while not fetching.done():
                fetching.cancel()
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.wait({fetching}, timeout=0.1)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                fetching.result()

    async def _process(
        self, stream: str, msgs: list[Msg], items: list[_Item] | None = None
    ) -> None:
        if items is None:
            items = self._decode_all(stream, msgs)
        for item in items:
            if item.rejection is not None:
                await self._dead_letter(stream, item, item.rejection, attempts=1)
        try:
            await self._apply_batch(stream, items)
        except TRANSIENT_ERRORS:
            raise
        except Exception as exc:
            log.info("projection %s: batch failed (%s); isolating the event", self.name, exc)
            for item in items:
                await self._apply_single(stream, item)
        await msgs[-1].ack()

    def _decode_all(self, stream: str, msgs: list[Msg]) -> list[_Item]:
        return [self._decode(stream, msg) for msg in msgs]

    def _decode(self, stream: str, msg: Msg) -> _Item:
        seq = msg.metadata.sequence.stream
        try:
            event = self._codec.decode(msg.data, msg.headers, msg.subject)
            return _Item(
                msg, seq, StoredEvent(event, stream, seq, telemetry.trace_id_of(msg.headers))
            )
        except EventError as exc:
            return _Item(msg, seq, None, f"{exc.reason}: {exc}")

    async def _apply_batch(self, stream: str, items: Sequence[_Item]) -> None:
        spans = (
            [self._span(item) for item in items if item.stored is not None]
            if telemetry.recording()
            else []
        )
        try:
            async with self._transaction() as conn:
                position = await checkpoints.position_for_update(
                    conn, self._schema, self.name, stream
                )
                last = items[-1].seq
                if last <= position:
                    return
                fresh = [i.stored for i in items if i.seq > position and i.stored is not None]
                if fresh:
                    await self.projection.apply_batch(conn, fresh)
                await checkpoints.advance(conn, self._schema, self.name, stream, last)
            self.counters.applied += sum(1 for i in items if i.seq > position)
        finally:
            for span in spans:
                span.end()

    async def _apply_single(self, stream: str, item: _Item) -> None:
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._transaction() as conn:
                    position = await checkpoints.position_for_update(
                        conn, self._schema, self.name, stream
                    )
                    if item.seq <= position:
                        return
                    if item.stored is not None:
                        await self.projection.apply(conn, item.stored)
                    await checkpoints.advance(conn, self._schema, self.name, stream, item.seq)
                self.counters.applied += 1
                return
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                if attempt >= self._retry.max_deliver:
                    reason = f"handler-error: {type(exc).__name__}: {exc}"
                    await self._dead_letter(stream, item, reason, attempts=attempt)
                    item.stored = None  # skip it, but still move the checkpoint past it
                    attempt = 0
                    continue
                log.warning(
                    "projection %s: event %s:%d failed (attempt %d/%d): %s",
                    self.name,
                    stream,
                    item.seq,
                    attempt,
                    self._retry.max_deliver,
                    exc,
                )
                with contextlib.suppress(Exception):
                    await item.msg.in_progress()
                await asyncio.sleep(self._retry.delay(attempt))

    async def _dead_letter(self, stream: str, item: _Item, reason: str, attempts: int) -> None:
        log.error(
            "projection %s: dead-lettering %s:%d after %d attempt(s): %s",
            self.name,
            stream,
            item.seq,
            attempts,
            reason,
        )
        await self._dlq.send(
            consumer=self.name,
            stream=stream,
            seq=item.seq,
            subject=item.msg.subject,
            data=item.msg.data,
            headers=item.msg.headers,
            reason=reason,
            attempts=attempts,
        )
        self.counters.dead_lettered += 1

    def _span(self, item: _Item) -> Any:
        assert item.stored is not None
        envelope = item.stored.event.envelope
        return telemetry.tracer().start_span(
            f"apply {self.name}",
            context=telemetry.extract(item.msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": item.msg.subject,
                "messaging.message.id": envelope.id,
                "continuum.event.type": envelope.type,
                "continuum.projection": self.name,
                "continuum.stream.seq": item.seq,
            },
        )

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        conn = await self._pool.acquire(timeout=_ACQUIRE_TIMEOUT_S)
        try:
            async with conn.transaction():
                yield conn
        except _BROKEN_CONNECTION:
            # Its protocol state cannot be trusted (it may even still hold the
            # checkpoint lock): close it rather than hand it back to the pool.
            # A connection asyncpg already saw die is detached; nothing to do.
            with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                conn.terminate()
            raise
        finally:
            with contextlib.suppress(asyncpg.exceptions.InterfaceError):
                await self._pool.release(conn)

    # -- operations ------------------------------------------------------------

    async def rebuild(self, progress: ProgressCallback | None = None) -> int:
        """Drop the read model and replay every event from the start of the log."""
        async with self._lock:
            await self._stop_loops()
            async with self._transaction() as conn:
                await self.projection.reset(conn)
                await checkpoints.reset(conn, self._schema, self.name)
            total = 0
            for sub in self.projection.subscriptions:
                total += await self._count(sub)
            applied_before = self.counters.applied
            self._stopping = False
            await self._start_loops()
            while True:
                done = self.counters.applied - applied_before
                if progress is not None:
                    await progress(min(done, total), total)
                if done >= total:
                    break
                await asyncio.sleep(0.2)
            if progress is not None:
                await progress(total, total)
            return total

    async def _count(self, sub: Subscription) -> int:
        info = await self._js.stream_info(sub.stream)
        if info.state.messages == 0:
            return 0
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            filter_subjects=list(sub.subjects),
            inactive_threshold=5.0,
            mem_storage=True,
        )
        consumer = await self._js.add_consumer(sub.stream, config)
        try:
            return int(consumer.num_pending or 0)
        finally:
            with contextlib.suppress(Exception):
                await self._js.delete_consumer(sub.stream, consumer.name)

    async def caught_up(self) -> bool:
        for sub in self.projection.subscriptions:
            try:
                info = await self._js.consumer_info(sub.stream, self.projection.consumer_name)
            except NotFoundError:
                return False
            if info.num_pending or info.num_ack_pending:
                return False
        return True

    async def redrive(self, letter: DeadLetter) -> None:
        """Re-apply a dead-lettered event (after a fix), at most once."""
        if letter.consumer != self.name:
            raise ValueError(f"dead letter #{letter.dlq_seq} belongs to {letter.consumer}")
        raw = await self._js.get_msg(letter.stream, letter.seq)
        event = StoredEvent(
            self._codec.decode(raw.data or b"", raw.headers, raw.subject or ""),
            letter.stream,
            letter.seq,
            telemetry.trace_id_of(raw.headers),
        )
        async with self._transaction() as conn:
            if await checkpoints.record_redrive(
                conn, self._schema, self.name, letter.stream, letter.seq
            ):
                await self.projection.apply(conn, event)
        await self._dlq.remove(letter.dlq_seq)

    async def status(self) -> dict[str, Any]:
        streams: dict[str, Any] = {}
        async with self._pool.acquire() as conn:
            for sub in self.projection.subscriptions:
                pos = await checkpoints.position(conn, self._schema, self.name, sub.stream)
                pending: int | None
                try:
                    info = await self._js.consumer_info(sub.stream, self.projection.consumer_name)
                    pending = int(info.num_pending or 0) + int(info.num_ack_pending or 0)
                except NotFoundError:
                    pending = None
                streams[sub.stream] = {"position": pos, "pending": pending}
        return {
            "projection": self.name,
            "leader": self._leader is not None,
            "applied": self.counters.applied,
            "dead_lettered": self.counters.dead_lettered,
            "streams": streams,
        }


async def _unsubscribe(psub: Any) -> None:
    if psub is not None:
        with contextlib.suppress(Exception):
            await psub.unsubscribe()
