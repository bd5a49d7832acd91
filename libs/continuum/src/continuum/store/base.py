"""The event store interface and its value types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from continuum.events.codec import Event
from continuum.events.envelope import Envelope


class EventStoreError(Exception):
    """The store could not complete the operation (server error, timeout)."""


class StoreBusy(EventStoreError):
    """JetStream refused an atomic batch for now: too many batches are open
    on the stream (its per-stream limit). Nothing was written; retry shortly."""


class ConcurrencyError(EventStoreError):
    """Another writer appended to the aggregate since ``expected_version``.

    Nothing of the rejected append was written; reload and decide again.
    """

    def __init__(self, subject: str, expected: int, actual: int | None) -> None:
        self.subject = subject
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{subject}: expected version {expected}, but the aggregate is at "
            f"{actual if actual is not None else 'a later version'}"
        )


@dataclass(frozen=True)
class StoredEvent:
    """An event as recorded: decoded, verified, with its place in the log."""

    event: Event
    stream: str
    seq: int
    #: The trace it was appended under (its ``traceparent`` header), if any.
    trace_id: str | None = None


@dataclass(frozen=True)
class Recorded:
    """Where one ingested event sits in the log."""

    stream: str
    seq: int
    #: True when the event was already stored (a retry): nothing new was written.
    duplicate: bool = False


@dataclass(frozen=True)
class AppendResult:
    stream: str
    #: The aggregate's version after the append (stream sequence of its last event).
    version: int
    #: True when every event was already stored (a retried append): nothing new was written.
    duplicate: bool = False


class EventStore(Protocol):
    """Append-only, per-aggregate event log with optimistic concurrency.

    An aggregate's *version* is the stream sequence of its last event (0 when
    it has none). ``expected_version=None`` appends without a check.
    """

    async def append(
        self, events: Sequence[Envelope], expected_version: int | None
    ) -> AppendResult: ...

    async def append_across(self, writes: Sequence[tuple[Envelope, int | None]]) -> list[Recorded]:
        """One event per aggregate (of one stream), each at its expected
        version, all or none: e.g. a transaction touching several accounts."""
        ...

    async def load(self, subject: str, after: int = 0) -> list[StoredEvent]: ...

    async def last(self, subject: str) -> StoredEvent | None:
        """The aggregate's latest event (its version is that event's seq)."""
        ...
