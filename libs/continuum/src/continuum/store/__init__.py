"""The event store: JetStream adapter, in-memory adapter and stream topology."""

from continuum.store.base import (
    AppendResult,
    ConcurrencyError,
    EventStore,
    EventStoreError,
    StoredEvent,
)
from continuum.store.jetstream import JetStreamEventStore
from continuum.store.memory import InMemoryEventStore
from continuum.store.topology import (
    DLQ_STREAM,
    Topology,
    event_streams,
    stream_for_context,
    stream_for_subject,
)

__all__ = [
    "DLQ_STREAM",
    "AppendResult",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "InMemoryEventStore",
    "JetStreamEventStore",
    "StoredEvent",
    "Topology",
    "event_streams",
    "stream_for_context",
    "stream_for_subject",
]
