"""An in-process event store with the same semantics as the JetStream one.

For domain unit tests that need an event log but not a server; the shared
contract suite (continuum.testing.contracts) keeps the two adapters honest.
"""

from __future__ import annotations

from collections.abc import Sequence

from continuum.events.codec import EventCodec
from continuum.events.envelope import Envelope
from continuum.store.base import AppendResult, ConcurrencyError, Recorded, StoredEvent
from continuum.store.topology import across_subjects, stream_for_subject


class InMemoryEventStore:
    def __init__(self, codec: EventCodec) -> None:
        self._codec = codec
        self._seq: dict[str, int] = {}
        self._log: dict[str, list[tuple[int, str, bytes]]] = {}
        self._ids: dict[str, tuple[str, int]] = {}

    async def append(
        self, events: Sequence[Envelope], expected_version: int | None
    ) -> AppendResult:
        subject = _common_subject(self._codec, events)
        stream = stream_for_subject(subject)
        encoded = [self._codec.encode(self._codec.check(e).envelope) for e in events]
        if all(e.id in self._ids for e in events):
            return AppendResult(stream, self._ids[events[-1].id][1], duplicate=True)
        current = self._last_seq(stream, subject)
        if expected_version is not None and expected_version != current:
            raise ConcurrencyError(subject, expected_version, current)
        log = self._log.setdefault(stream, [])
        seq = self._seq.get(stream, 0)
        for event, raw in zip(events, encoded, strict=True):
            seq += 1
            log.append((seq, subject, raw))
            self._ids[event.id] = (stream, seq)
        self._seq[stream] = seq
        return AppendResult(stream, seq)

    async def append_across(self, writes: Sequence[tuple[Envelope, int | None]]) -> list[Recorded]:
        events = [event for event, _ in writes]
        subjects = [self._codec.subject_of(e) for e in events]
        stream = across_subjects(subjects)
        encoded = [self._codec.encode(self._codec.check(e).envelope) for e in events]
        if all(e.id in self._ids for e in events):
            return [Recorded(stream, self._ids[e.id][1], duplicate=True) for e in events]
        for subject, (_, expected) in zip(subjects, writes, strict=True):
            current = self._last_seq(stream, subject)
            if expected is not None and expected != current:
                raise ConcurrencyError(subject, expected, current)
        log = self._log.setdefault(stream, [])
        seq = self._seq.get(stream, 0)
        recorded = []
        for event, subject, raw in zip(events, subjects, encoded, strict=True):
            seq += 1
            log.append((seq, subject, raw))
            self._ids[event.id] = (stream, seq)
            recorded.append(Recorded(stream, seq))
        self._seq[stream] = seq
        return recorded

    async def load(self, subject: str, after: int = 0) -> list[StoredEvent]:
        stream = stream_for_subject(subject)
        return [
            StoredEvent(self._codec.decode(raw), stream, seq)
            for seq, subj, raw in self._log.get(stream, [])
            if subj == subject and seq > after
        ]

    async def last(self, subject: str) -> StoredEvent | None:
        stream = stream_for_subject(subject)
        for seq, subj, raw in reversed(self._log.get(stream, [])):
            if subj == subject:
                return StoredEvent(self._codec.decode(raw), stream, seq)
        return None

    def _last_seq(self, stream: str, subject: str) -> int:
        for seq, subj, _ in reversed(self._log.get(stream, [])):
            if subj == subject:
                return seq
        return 0


def _common_subject(codec: EventCodec, events: Sequence[Envelope]) -> str:
    if not events:
        raise ValueError("append needs at least one event")
    subjects = {codec.subject_of(e) for e in events}
    if len(subjects) != 1:
        raise ValueError(f"one append targets one aggregate, got {sorted(subjects)}")
    return subjects.pop()
