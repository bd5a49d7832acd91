"""Events that external tools publish straight to NATS (``ingress.<source>``).

The ``INGRESS`` stream (work-queue retention, declared by the bootstrap)
holds what tools publish, in any of the CloudEvents NATS binding's modes.
This consumer takes each message through the same ``EventIngress`` as HTTP;
an event that is rejected sends the whole message to the DLQ (subject
``dlq.gateway-ingress``) with the reasons, and nothing of it is appended;
``continuum events dlq redrive N`` takes it through admission again.
The message is acknowledged only after its events are appended, and event
ids are ``Nats-Msg-Id``s, so a crash between the two appends nothing twice.

It is a FastStream pull subscriber bound to the durable consumer the
bootstrap declares (``Topology.consumer_configs``), acknowledging by hand.
"""

from __future__ import annotations

import logging

from faststream.middlewares import AckPolicy
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.annotations import NatsMessage
from nats.aio.msg import Msg
from opentelemetry.trace import SpanKind

from continuum import telemetry
from continuum.projections.deadletters import DeadLetter, DeadLetterQueue
from continuum.runtime.replies import raw_body
from continuum.store import INGRESS_STREAM, INGRESS_SUBJECT_PREFIX, EventStoreError
from continuum.store.topology import INGRESS_CONSUMER, INGRESS_MAX_ATTEMPTS, Topology
from continuum_gateway.admission import Rejected
from continuum_gateway.cloudevents import UnreadableRequest, read_events
from continuum_gateway.ingress import EventIngress

log = logging.getLogger("continuum.gateway.ingress")

PUBLISHER = "nats"
_BATCH = 64


class NatsIngress:
    def __init__(self, broker: NatsBroker, ingress: EventIngress, inbox_prefix: bytes) -> None:
        self._broker = broker
        self._inbox_prefix = inbox_prefix
        self._ingress = ingress
        self._dlq = DeadLetterQueue(broker.connection)
        self._subscriber: object | None = None

    async def start(self) -> None:
        subscriber = self._broker.subscriber(
            f"{INGRESS_SUBJECT_PREFIX}.>",
            stream=JStream(INGRESS_STREAM, declare=False),
            durable=INGRESS_CONSUMER,
            config=Topology.consumer_configs()[INGRESS_STREAM],
            pull_sub=PullSub(batch_size=_BATCH, timeout=1.0),
            # The deliveries of a fetch arrive here, under their stream subject:
            # in this process's own inbox root, never in _INBOX (ADR 0014).
            inbox_prefix=self._inbox_prefix,
            ack_policy=AckPolicy.MANUAL,
            decoder=raw_body,
            title="ingress.>",
            description="CloudEvents from external tools, validated and appended to the log.",
        )

        async def receive(message: NatsMessage) -> None:
            await self._handle(message.raw_message)

        subscriber(receive)
        await subscriber.start()
        self._subscriber = subscriber

    async def stop(self) -> None:
        if self._subscriber is not None:
            await self._subscriber.stop()  # type: ignore[attr-defined]
            self._subscriber = None

    async def _handle(self, msg: Msg) -> None:
        headers = {k.lower(): v for k, v in (msg.headers or {}).items()}
        # Inside the consumer span FastStream's telemetry continued from the
        # message's traceparent.
        with telemetry.tracer().start_as_current_span(
            f"ingest {msg.subject}", kind=SpanKind.CONSUMER
        ):
            try:
                candidates = read_events(headers, msg.data)
                outcome = await self._ingress.publish(
                    candidates, PUBLISHER, partial=False, via="nats"
                )
            except UnreadableRequest as exc:
                await self._dead_letter(msg, str(exc))
                return
            except Exception as exc:  # the log or its index is down: retry, then dead-letter
                if not isinstance(exc, EventStoreError):
                    log.warning("ingress of %s failed, will retry: %r", msg.subject, exc)
                attempts = msg.metadata.num_delivered
                if attempts >= INGRESS_MAX_ATTEMPTS:
                    await self._dead_letter(msg, f"gave up after {attempts} attempts: {exc}")
                else:
                    await msg.nak(delay=min(2.0**attempts, 30.0))
                return
            if outcome.rejected:
                await self._dead_letter(msg, "; ".join(outcome.reasons))
                return
            await msg.ack()

    async def redrive(self, letter: DeadLetter) -> None:
        """Take a dead-lettered message through admission again (say, after its
        publisher key was registered); raises Rejected if it still fails.
        Event ids dedupe, so a redrive that crashes half-way can be repeated."""
        headers = {k.lower(): v for k, v in letter.headers.items()}
        try:
            candidates = read_events(headers, letter.data)
        except UnreadableRequest as exc:
            raise Rejected(str(exc)) from None
        outcome = await self._ingress.publish(candidates, PUBLISHER, partial=False, via="nats")
        if outcome.rejected:
            raise Rejected("; ".join(outcome.reasons))
        await self._dlq.remove(letter.dlq_seq)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        log.warning("ingress message on %s rejected: %s", msg.subject, reason)
        await self._dlq.send(
            consumer=INGRESS_CONSUMER,
            stream=INGRESS_STREAM,
            seq=msg.metadata.sequence.stream,
            subject=msg.subject,
            data=msg.data,
            headers=msg.headers,
            reason=reason,
            attempts=msg.metadata.num_delivered,
        )
        await msg.ack()
