"""Events that external tools publish straight to NATS (``ingress.<source>``).

The ``INGRESS`` stream (work-queue retention, declared by the bootstrap)
holds what tools publish, in any of the CloudEvents NATS binding's modes.
This consumer takes each message through the same ``EventIngress`` as HTTP;
an event that is rejected sends the whole message to the DLQ (subject
``dlq.gateway-ingress``) with the reasons, and nothing of it is appended;
``continuum events dlq redrive N`` takes it through admission again.
The message is acknowledged only after its events are appended, and event
ids are ``Nats-Msg-Id``s, so a crash between the two appends nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import SpanKind

from continuum import telemetry
from continuum.projections.deadletters import DeadLetter, DeadLetterQueue
from continuum.store import INGRESS_STREAM, INGRESS_SUBJECT_PREFIX, EventStoreError
from continuum_gateway.admission import Rejected
from continuum_gateway.cloudevents import UnreadableRequest, read_events
from continuum_gateway.ingress import EventIngress

log = logging.getLogger("continuum.gateway.ingress")

CONSUMER = "gateway-ingress"
PUBLISHER = "nats"
_MAX_DELIVER = 10
_BATCH = 64


class NatsIngress:
    def __init__(self, nc: Client, ingress: EventIngress) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=10)
        self._ingress = ingress
        self._dlq = DeadLetterQueue(nc)
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=CONSUMER,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=10,  # how soon a crashed replica's unacked messages come back
            max_deliver=_MAX_DELIVER + 1,
            filter_subject=f"{INGRESS_SUBJECT_PREFIX}.>",
        )
        self._sub = await self._js.pull_subscribe(
            f"{INGRESS_SUBJECT_PREFIX}.>", durable=CONSUMER, stream=INGRESS_STREAM, config=config
        )
        self._task = asyncio.create_task(self._run(), name="nats-ingress")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                messages = await self._sub.fetch(batch=_BATCH, timeout=1.0)
            except (nats.errors.TimeoutError, TimeoutError):
                continue
            except Exception as exc:  # connection trouble: back off, nats-py reconnects
                log.warning("ingress fetch failed: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for msg in messages:
                await self._handle(msg)

    async def _handle(self, msg: Msg) -> None:
        headers = {k.lower(): v for k, v in (msg.headers or {}).items()}
        with telemetry.tracer().start_as_current_span(
            f"ingest {msg.subject}",
            context=telemetry.extract(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={"messaging.system": "nats", "messaging.destination.name": msg.subject},
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
                if attempts >= _MAX_DELIVER:
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
            consumer=CONSUMER,
            stream=INGRESS_STREAM,
            seq=msg.metadata.sequence.stream,
            subject=msg.subject,
            data=msg.data,
            headers=msg.headers,
            reason=reason,
            attempts=msg.metadata.num_delivered,
        )
        await msg.ack()
