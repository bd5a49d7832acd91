"""The event store on NATS JetStream.

Appends publish to ``evt.<context>.<aggregate>.<id>`` with
``Nats-Expected-Last-Subject-Sequence`` (optimistic concurrency) and
``Nats-Msg-Id`` = event id (a retried publish is stored once). Several events
in one append go as one atomic batch (ADR-50): all are stored or none.
Because JetStream's dedupe window is two minutes, a retry that arrives later
is recognised by looking its event ids up on the aggregate's subject.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry.trace import SpanKind

from continuum import telemetry
from continuum.events.codec import EventCodec
from continuum.events.envelope import CONTENT_TYPE, Envelope, parse_envelope
from continuum.events.seal import SEAL_HEADER
from continuum.store.base import (
    AppendResult,
    ConcurrencyError,
    EventStoreError,
    Recorded,
    StoreBusy,
    StoredEvent,
)
from continuum.store.topology import across_subjects, stream_for_subject

_WRONG_LAST_SEQ = 10071
_BATCH_DUPLICATE_ID = 10201
_BATCHES_IN_FLIGHT = (10210, 10211)  # atomic / fast batches: too many open at once
_MAX_BATCH = 1000
_DIRECT_BATCH = 256
_LAST_SEQ = re.compile(r"wrong last sequence: (\d+)")


class JetStreamEventStore:
    def __init__(self, nc: Client, codec: EventCodec, timeout: float = 5.0) -> None:
        self._nc = nc
        self._js: JetStreamContext = nc.jetstream(timeout=timeout)
        self._codec = codec
        self._timeout = timeout

    async def append(
        self, events: Sequence[Envelope], expected_version: int | None
    ) -> AppendResult:
        if not events:
            raise ValueError("append needs at least one event")
        if len(events) > _MAX_BATCH:
            raise ValueError(f"one append holds at most {_MAX_BATCH} events, got {len(events)}")
        subjects = {self._codec.subject_of(e) for e in events}
        if len(subjects) != 1:
            raise ValueError(f"one append targets one aggregate, got {sorted(subjects)}")
        subject = subjects.pop()
        stream = stream_for_subject(subject)
        # Validate and encode everything before the first byte goes out: a bad
        # event rejects the whole append, never half of it.
        payloads = [self._codec.encode(self._codec.check(e).envelope) for e in events]

        with self._span(subject, events):
            try:
                if len(events) == 1:
                    ack = await self._publish_one(subject, events[0], payloads[0], expected_version)
                else:
                    ack = await self._publish_batch(subject, events, payloads, expected_version)
            except ConcurrencyError:
                existing = await self._already_stored(subject, events)
                if existing is not None:
                    return AppendResult(stream, existing, duplicate=True)
                raise
            except _DuplicateBatch:
                existing = await self._already_stored(subject, events)
                if existing is not None:
                    return AppendResult(stream, existing, duplicate=True)
                raise EventStoreError(
                    f"{subject}: some but not all of these event ids are already stored"
                ) from None
            seq, duplicate = ack
            return AppendResult(stream, seq, duplicate=duplicate)

    def _span(
        self, subject: str, events: Sequence[Envelope], verb: str = "append"
    ) -> AbstractContextManager[object]:
        if not telemetry.recording():
            return nullcontext()
        return telemetry.tracer().start_as_current_span(
            f"{verb} {subject}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": subject,
                "messaging.batch.message_count": len(events),
                "continuum.event.type": events[0].type,
            },
        )

    def _headers(
        self, envelope: Envelope, expected: int | None, subject: str, payload: bytes
    ) -> dict[str, str]:
        # A UUID in any letter case is the same id (and the same event).
        headers = {"Nats-Msg-Id": envelope.id.lower(), "Content-Type": CONTENT_TYPE}
        sealed = self._codec.seal(subject, payload)
        if sealed:
            headers[SEAL_HEADER] = sealed
        if expected is not None:
            headers["Nats-Expected-Last-Subject-Sequence"] = str(expected)
        return telemetry.inject(headers)

    async def _publish_one(
        self, subject: str, envelope: Envelope, payload: bytes, expected: int | None
    ) -> tuple[int, bool]:
        reply = await self._request(
            subject, payload, self._headers(envelope, expected, subject, payload)
        )
        return self._parse_ack(subject, reply, expected)

    async def _publish_batch(
        self,
        subject: str | Sequence[str],
        events: Sequence[Envelope],
        payloads: Sequence[bytes],
        expected: int | Sequence[int | None] | None,
    ) -> tuple[int, bool]:
        """One ADR-50 atomic batch; ``subject`` is one subject or one per
        event, ``expected`` the first event's expected version or one per
        event (each checked on its own subject: a stale one refuses all)."""
        subjects = [subject] * len(events) if isinstance(subject, str) else list(subject)
        if expected is None or isinstance(expected, int):
            expected = [expected] + [None] * (len(events) - 1)
        batch_id = events[0].id
        last = len(events)
        reply = b""
        for index, (target, envelope, payload, wanted) in enumerate(
            zip(subjects, events, payloads, expected, strict=True), start=1
        ):
            headers = self._headers(envelope, wanted, target, payload)
            headers["Nats-Batch-Id"] = batch_id
            headers["Nats-Batch-Sequence"] = str(index)
            if index == last:
                headers["Nats-Batch-Commit"] = "1"
            if index in (1, last):
                reply = await self._request(target, payload, headers)
                if index == 1 and reply:  # the server rejected the batch at once
                    return self._parse_ack(target, reply, wanted)
            else:
                await self._nc.publish(target, payload, headers=headers)
        return self._parse_ack(subjects[-1], reply, expected[-1])

    async def append_across(self, writes: Sequence[tuple[Envelope, int | None]]) -> list[Recorded]:
        """Append one event to each of several aggregates of one stream, all
        or none, each only if its aggregate is still at the version given
        (``None``: no check). A double-entry transaction is this: one event
        per account it touches, each expecting the version its balance was
        read at, so two transactions racing on one account cannot both land
        while transactions on different accounts never wait for each other.

        A stale version raises :class:`ConcurrencyError` naming that
        aggregate; re-sending the same events (same ids) returns them as
        duplicates, at any age."""
        if len(writes) > _MAX_BATCH:
            raise ValueError(f"one append holds at most {_MAX_BATCH} events, got {len(writes)}")
        events = [event for event, _ in writes]
        subjects = [self._codec.subject_of(e) for e in events]
        stream = across_subjects(subjects)
        payloads = [self._codec.encode(self._codec.check(e).envelope) for e in events]
        expected = [version for _, version in writes]
        with self._span(",".join(subjects), events):
            try:
                last, duplicate = await self._publish_batch(subjects, events, payloads, expected)
            except ConcurrencyError:
                raise await self._stale(subjects, expected) from None
            except _DuplicateBatch:  # a retry inside the dedupe window
                stored = [
                    await self._already_stored(s, [e])
                    for s, e in zip(subjects, events, strict=True)
                ]
                if any(seq is None for seq in stored):
                    raise EventStoreError(
                        f"{', '.join(subjects)}: some but not all events are already stored"
                    ) from None
                return [Recorded(stream, seq or 0, duplicate=True) for seq in stored]
        first = last - len(events) + 1
        return [Recorded(stream, first + i, duplicate) for i in range(len(events))]

    async def _stale(
        self, subjects: Sequence[str], expected: Sequence[int | None]
    ) -> ConcurrencyError:
        """The error for a refused conditional batch, naming an aggregate that
        moved (the server's refusal does not say which)."""
        moved: ConcurrencyError | None = None
        for subject, wanted in zip(subjects, expected, strict=True):
            if wanted is None:
                continue
            try:
                last = await self._js.get_last_msg(stream_for_subject(subject), subject)
                actual = int(last.seq or 0)
            except NotFoundError:
                actual = 0
            if actual != wanted:
                return ConcurrencyError(subject, wanted, actual)
            moved = moved or ConcurrencyError(subject, wanted, None)
        return moved or ConcurrencyError(subjects[0], 0, None)

    async def ingest(self, events: Sequence[Envelope]) -> list[Recorded]:
        """Append events of any aggregates, with no concurrency expectation.

        This is the ingress path for events from outside (the gateway): each
        event is checked and encoded before anything is sent, then the events
        of each stream go out as atomic batches of up to 1,000, so a batch is
        stored whole or not at all per stream. Event ids are ``Nats-Msg-Id``s,
        so a retried ingest inside the dedupe window stores nothing twice;
        the results say which events were already stored. Returns one
        ``Recorded`` per event, in order.
        """
        if not events:
            return []
        subjects = [self._codec.subject_of(e) for e in events]
        payloads = [self._codec.encode(self._codec.check(e).envelope) for e in events]
        groups: dict[str, list[int]] = {}
        for index, subject in enumerate(subjects):
            groups.setdefault(stream_for_subject(subject), []).append(index)
        results: list[Recorded | None] = [None] * len(events)
        with self._span(",".join(groups), events, verb="ingest"):
            for stream, indexes in groups.items():
                for start in range(0, len(indexes), _MAX_BATCH):
                    chunk = indexes[start : start + _MAX_BATCH]
                    for index, (seq, duplicate) in zip(
                        chunk,
                        await self._ingest_chunk(chunk, subjects, events, payloads),
                        strict=True,
                    ):
                        results[index] = Recorded(stream, seq, duplicate)
        return [r for r in results if r is not None]

    async def _ingest_chunk(
        self,
        chunk: list[int],
        subjects: list[str],
        events: Sequence[Envelope],
        payloads: list[bytes],
    ) -> list[tuple[int, bool]]:
        if len(chunk) > 1:
            try:
                last, _ = await self._publish_batch(
                    [subjects[i] for i in chunk],
                    [events[i] for i in chunk],
                    [payloads[i] for i in chunk],
                    None,
                )
            except _DuplicateBatch:
                pass  # a retry: some ids are stored; publish one by one, dedupe sorts it out
            else:
                first = last - len(chunk) + 1
                return [(first + offset, False) for offset in range(len(chunk))]
        return [await self._publish_one(subjects[i], events[i], payloads[i], None) for i in chunk]

    async def _request(self, subject: str, payload: bytes, headers: dict[str, str]) -> bytes:
        try:
            msg = await self._nc.request(subject, payload, timeout=self._timeout, headers=headers)
        except nats.errors.NoRespondersError:
            raise EventStoreError(
                f"no stream accepts {subject}: run `continuum up` (or the bootstrap) first"
            ) from None
        except nats.errors.TimeoutError:
            raise EventStoreError(
                f"timed out appending to {subject}; it is safe to retry"
            ) from None
        return bytes(msg.data)

    def _parse_ack(self, subject: str, reply: bytes, expected: int | None) -> tuple[int, bool]:
        try:
            ack = json.loads(reply)
        except json.JSONDecodeError:
            raise EventStoreError(f"unexpected reply from JetStream: {reply[:200]!r}") from None
        error = ack.get("error")
        if error:
            code = error.get("err_code")
            description = error.get("description", "")
            if code == _WRONG_LAST_SEQ:
                found = _LAST_SEQ.search(description)
                raise ConcurrencyError(
                    subject, expected or 0, int(found.group(1)) if found else None
                )
            if code == _BATCH_DUPLICATE_ID:
                raise _DuplicateBatch
            if code in _BATCHES_IN_FLIGHT:
                raise StoreBusy(f"{subject}: {description}; nothing was written, retry shortly")
            raise EventStoreError(f"JetStream rejected the append to {subject}: {description}")
        return int(ack["seq"]), bool(ack.get("duplicate", False))

    async def _already_stored(self, subject: str, events: Sequence[Envelope]) -> int | None:
        """The version after ``events`` if all of them are already on ``subject``."""
        wanted = {e.id for e in events}
        found: dict[str, int] = {}
        for seq, raw in await self._read(subject, 0):
            event_id = parse_envelope(raw, self._codec.max_bytes).id
            if event_id in wanted:
                found[event_id] = seq
        if len(found) == len(wanted):
            return found[events[-1].id]
        return None

    async def load(self, subject: str, after: int = 0) -> list[StoredEvent]:
        stream = stream_for_subject(subject)
        return [
            StoredEvent(self._codec.decode(raw), stream, seq)
            for seq, raw in await self._read(subject, after)
        ]

    async def last(self, subject: str) -> StoredEvent | None:
        stream = stream_for_subject(subject)
        try:
            msg = await self._js.get_last_msg(stream, subject)
        except NotFoundError:
            return None
        return StoredEvent(self._codec.decode(bytes(msg.data or b"")), stream, int(msg.seq or 0))

    async def _read(self, subject: str, after: int) -> list[tuple[int, bytes]]:
        """Raw messages on ``subject`` with stream sequence > ``after``, in order."""
        stream = stream_for_subject(subject)
        try:
            last = await self._js.get_last_msg(stream, subject)
        except NotFoundError:
            return []
        last_seq = int(last.seq or 0)
        if last_seq <= after:
            return []
        direct = await self._read_direct(stream, subject, after, last_seq)
        if direct is not None:
            return direct
        return await self._read_consumer(stream, subject, after, last_seq)

    async def _read_direct(
        self, stream: str, subject: str, after: int, last_seq: int
    ) -> list[tuple[int, bytes]] | None:
        """Batched direct gets (NATS 2.11+, ``allow_direct``): no consumer,
        so readers racing on one aggregate never pile consumers up. None
        where the stream does not allow direct gets (made before it did)."""
        result: list[tuple[int, bytes]] = []
        start = after + 1
        while True:
            inbox = self._nc.new_inbox()
            queue: asyncio.Queue[Msg] = asyncio.Queue()
            sub = await self._nc.subscribe(inbox, cb=queue.put)
            got = 0
            try:
                request = {"seq": start, "next_by_subj": subject, "batch": _DIRECT_BATCH}
                await self._nc.publish(
                    f"$JS.API.DIRECT.GET.{stream}", json.dumps(request).encode(), reply=inbox
                )
                while True:
                    msg = await asyncio.wait_for(queue.get(), self._timeout)
                    if not msg.data:  # a status: the batch's end (204), none left (404) ...
                        status = (msg.headers or {}).get("Status", "")
                        if status in ("204", "404"):
                            break
                        return None  # ... or no direct gets here (503): read with a consumer
                    seq = int((msg.headers or {})["Nats-Sequence"])
                    result.append((seq, bytes(msg.data)))
                    got += 1
                    if seq >= last_seq:
                        return result
            except TimeoutError:
                raise EventStoreError(f"timed out reading {subject}; it is safe to retry") from None
            finally:
                await sub.unsubscribe()
            if got == 0:
                return result
            start = result[-1][0] + 1

    async def _read_consumer(
        self, stream: str, subject: str, after: int, last_seq: int
    ) -> list[tuple[int, bytes]]:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=after + 1,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=30.0,
            mem_storage=True,
        )
        sub = await self._js.pull_subscribe(subject, stream=stream, config=config)
        result: list[tuple[int, bytes]] = []
        try:
            while True:
                for msg in await sub.fetch(batch=256, timeout=self._timeout):
                    seq = msg.metadata.sequence.stream
                    result.append((seq, bytes(msg.data)))
                    if seq >= last_seq:
                        return result
        finally:
            await sub.unsubscribe()


class _DuplicateBatch(Exception):
    """JetStream refused an atomic batch because it holds already-stored ids."""
