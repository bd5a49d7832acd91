"""The event store: JetStream adapter, in-memory adapter and stream topology."""

from continuum.store.base import (
    AppendResult,
    ConcurrencyError,
    EventStore,
    EventStoreError,
    Recorded,
    StoreBusy,
    StoredEvent,
)
from continuum.store.jetstream import JetStreamEventStore
from continuum.store.memory import InMemoryEventStore
from continuum.store.topology import (
    DLQ_STREAM,
    INGRESS_STREAM,
    INGRESS_SUBJECT_PREFIX,
    Topology,
    event_streams,
    stream_for_context,
    stream_for_subject,
)

__all__ = [
    "DLQ_STREAM",
    "INGRESS_STREAM",
    "INGRESS_SUBJECT_PREFIX",
    "AppendResult",
    "ConcurrencyError",
    "EventStore",
    "EventStoreError",
    "InMemoryEventStore",
    "JetStreamEventStore",
    "Recorded",
    "StoreBusy",
    "StoredEvent",
    "Topology",
    "event_streams",
    "stream_for_context",
    "stream_for_subject",
]
