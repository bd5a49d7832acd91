"""The JetStream topology of a node, declared in exactly one place.

One stream per bounded context (``EVT_<CONTEXT>`` on ``evt.<context>.>``),
append-only (no delete, no purge: it is the log of record), with atomic batch
publishing for multi-event appends; plus the ``DLQ`` stream for dead letters.
``bootstrap`` creates or updates them; services never declare streams.
"""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BucketNotFoundError, NotFoundError

from continuum.events.catalog import CONTEXTS
from continuum.genome.blobs import bucket_configs, declare_buckets
from continuum.mesh.subjects import PEERS_BUCKET

DLQ_STREAM = "DLQ"
DLQ_SUBJECT_PREFIX = "dlq"
# External tools publish CloudEvents here (the CloudEvents NATS binding); the
# gateway validates each one and appends it to its context's stream.
INGRESS_STREAM = "INGRESS"
INGRESS_SUBJECT_PREFIX = "ingress"
INGRESS_MAX_MESSAGE_BYTES = 1024 * 1024
DUPLICATE_WINDOW_S = 120.0
#: The gateway's durable consumer of the INGRESS stream, and how often it may
#: retry a message before the message is dead-lettered.
INGRESS_CONSUMER = "gateway-ingress"
INGRESS_MAX_ATTEMPTS = 10
_HEADER_ALLOWANCE = 4096  # room for Nats-* and trace headers on top of the event body


def stream_for_context(context: str) -> str:
    return f"EVT_{context.upper()}"


def stream_for_subject(subject: str) -> str:
    parts = subject.split(".")
    if len(parts) < 4 or parts[0] != "evt" or parts[1] not in CONTEXTS:
        raise ValueError(f"{subject!r} is not an event subject (evt.<context>.<aggregate>.<id>)")
    return stream_for_context(parts[1])


def across_subjects(subjects: list[str]) -> str:
    """The one stream an ``append_across`` of these subjects goes to: one
    event per aggregate, all in one stream (an atomic batch stays in one)."""
    if not subjects:
        raise ValueError("append_across needs at least one event")
    if len(set(subjects)) != len(subjects):
        raise ValueError("append_across takes one event per aggregate")
    streams = {stream_for_subject(s) for s in subjects}
    if len(streams) != 1:
        raise ValueError(f"one atomic append stays in one stream, got {sorted(streams)}")
    return streams.pop()


def event_streams() -> list[str]:
    return [stream_for_context(c) for c in CONTEXTS]


@dataclass(frozen=True)
class Topology:
    max_event_bytes: int
    duplicate_window_s: float = DUPLICATE_WINDOW_S

    def stream_configs(self) -> list[StreamConfig]:
        configs = [
            StreamConfig(
                name=stream_for_context(context),
                description=f"Continuum events of the {context} context (log of record)",
                subjects=[f"evt.{context}.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                discard=DiscardPolicy.OLD,
                max_msg_size=self.max_event_bytes + _HEADER_ALLOWANCE,
                duplicate_window=self.duplicate_window_s,
                deny_delete=True,
                deny_purge=True,
                allow_atomic=True,
                # Reading an aggregate is a batched direct get: no consumer
                # per read, however many writers re-read at once.
                allow_direct=True,
            )
            for context in CONTEXTS
        ]
        configs.append(
            StreamConfig(
                name=INGRESS_STREAM,
                description="CloudEvents from external publishers, awaiting validation",
                subjects=[f"{INGRESS_SUBJECT_PREFIX}.>"],
                retention=RetentionPolicy.WORK_QUEUE,
                storage=StorageType.FILE,
                max_msg_size=INGRESS_MAX_MESSAGE_BYTES,
                duplicate_window=self.duplicate_window_s,
            )
        )
        configs.append(
            StreamConfig(
                name=DLQ_STREAM,
                description="Dead letters: events a consumer could not process, with the reason",
                subjects=[f"{DLQ_SUBJECT_PREFIX}.>"],
                retention=RetentionPolicy.LIMITS,
                storage=StorageType.FILE,
                max_msg_size=self.max_event_bytes + 4 * _HEADER_ALLOWANCE,
                duplicate_window=self.duplicate_window_s,
            )
        )
        return configs

    @staticmethod
    def consumer_configs() -> dict[str, ConsumerConfig]:
        """Durable consumers services bind to (stream -> config). Projection
        runners declare their own: they re-anchor them on their checkpoints."""
        return {
            INGRESS_STREAM: ConsumerConfig(
                durable_name=INGRESS_CONSUMER,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=10,  # how soon a crashed replica's unacked messages come back
                max_deliver=INGRESS_MAX_ATTEMPTS + 1,
                filter_subject=f"{INGRESS_SUBJECT_PREFIX}.>",
            )
        }

    async def bootstrap(self, js: JetStreamContext) -> list[str]:
        """Create missing streams and bring existing ones to the declared
        config; then the durable consumers services bind to."""
        declared = []
        for config in self.stream_configs():
            assert config.name is not None
            try:
                await js.stream_info(config.name)
            except NotFoundError:
                await js.add_stream(config)
            else:
                await js.update_stream(config)
            declared.append(config.name)
        declared.extend(await declare_buckets(js))
        declared.append(await _declare_peer_view(js))
        for stream, consumer in self.consumer_configs().items():
            await js.add_consumer(stream, consumer)  # creates, or updates what may change
        return declared

    def stream_names(self) -> list[str]:
        """Every stream ``bootstrap`` declares, the buckets' included."""
        streams = [c.name for c in self.stream_configs() if c.name is not None]
        return streams + [f"OBJ_{c.bucket}" for c in bucket_configs()] + [f"KV_{PEERS_BUCKET}"]

    async def missing(self, js: JetStreamContext) -> list[str]:
        """The declared streams NATS does not have (yet): what a process that
        may not declare streams itself waits for."""
        missing = []
        for name in self.stream_names():
            try:
                await js.stream_info(name)
            except NotFoundError:
                missing.append(name)
        return missing


async def _declare_peer_view(js: JetStreamContext) -> str:
    """The mesh agent's view of its peers' adverts (one key per node, the
    latest only; expired adverts are deleted by the agent)."""
    config = KeyValueConfig(bucket=PEERS_BUCKET, history=1, max_bytes=64 * 1024 * 1024)
    try:
        await js.key_value(PEERS_BUCKET)
    except (NotFoundError, BucketNotFoundError):
        await js.create_key_value(config)
    return f"KV_{PEERS_BUCKET}"
