"""The dead-letter queue: events a consumer gave up on, with the reason.

A dead letter keeps the original message body and headers and adds
``Continuum-Dlq-*`` headers saying who failed, where the event sits in its
stream, after how many attempts, and why. Its ``Nats-Msg-Id`` is derived from
(consumer, stream, sequence), so a consumer that crashes after dead-lettering
and sees the event again does not file it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import APIError, NotFoundError

from continuum.store.topology import DLQ_STREAM, DLQ_SUBJECT_PREFIX

H_REASON = "Continuum-Dlq-Reason"
H_CONSUMER = "Continuum-Dlq-Consumer"
H_STREAM = "Continuum-Dlq-Stream"
H_SEQ = "Continuum-Dlq-Seq"
H_SUBJECT = "Continuum-Dlq-Subject"
H_ATTEMPTS = "Continuum-Dlq-Attempts"
H_TIME = "Continuum-Dlq-Time"
_MAX_REASON = 1000
_NO_MESSAGE = 10057  # JetStream: no message found at that sequence


@dataclass(frozen=True)
class DeadLetter:
    dlq_seq: int
    consumer: str
    stream: str
    seq: int
    subject: str
    reason: str
    attempts: int
    time: str
    data: bytes
    #: The original message's headers (without Nats-* and the DLQ's own).
    headers: dict[str, str] = field(default_factory=dict)


class DeadLetterQueue:
    def __init__(self, nc: Client, timeout: float = 5.0) -> None:
        self._nc = nc
        self._js = nc.jetstream(timeout=timeout)

    async def send(
        self,
        *,
        consumer: str,
        stream: str,
        seq: int,
        subject: str,
        data: bytes,
        headers: dict[str, str] | None,
        reason: str,
        attempts: int,
    ) -> None:
        out = {k: v for k, v in (headers or {}).items() if not k.startswith("Nats-")}
        out.update(
            {
                "Nats-Msg-Id": f"dlq:{consumer}:{stream}:{seq}",
                H_REASON: _one_line(reason)[:_MAX_REASON],
                H_CONSUMER: consumer,
                H_STREAM: stream,
                H_SEQ: str(seq),
                H_SUBJECT: subject,
                H_ATTEMPTS: str(attempts),
                H_TIME: datetime.now(UTC).isoformat(timespec="seconds"),
            }
        )
        await self._js.publish(f"{DLQ_SUBJECT_PREFIX}.{consumer}", data, headers=out)

    async def list(self, consumer: str | None = None) -> list[DeadLetter]:
        subject = f"{DLQ_SUBJECT_PREFIX}.{consumer}" if consumer else f"{DLQ_SUBJECT_PREFIX}.>"
        info = await self._js.stream_info(DLQ_STREAM)
        if info.state.messages == 0:
            return []
        last = info.state.last_seq
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=5.0,
            mem_storage=True,
        )
        sub = await self._js.pull_subscribe(subject, stream=DLQ_STREAM, config=config)
        letters: list[DeadLetter] = []
        try:
            while True:
                try:
                    msgs = await sub.fetch(batch=256, timeout=1.0)
                except TimeoutError:
                    return letters
                for msg in msgs:
                    letters.append(
                        _from_headers(msg.metadata.sequence.stream, msg.headers, msg.data)
                    )
                    if msg.metadata.num_pending == 0 or msg.metadata.sequence.stream >= last:
                        return letters
        finally:
            await sub.unsubscribe()

    async def get(self, dlq_seq: int) -> DeadLetter:
        try:
            raw = await self._js.get_msg(DLQ_STREAM, dlq_seq)
        except APIError as exc:
            if isinstance(exc, NotFoundError) or exc.err_code == _NO_MESSAGE:
                raise KeyError(f"no dead letter #{dlq_seq}") from None
            raise
        return _from_headers(dlq_seq, raw.headers, raw.data or b"")

    async def remove(self, dlq_seq: int) -> None:
        try:
            await self._js.delete_msg(DLQ_STREAM, dlq_seq)
        except APIError as exc:
            if not (isinstance(exc, NotFoundError) or exc.err_code == _NO_MESSAGE):
                raise


def _one_line(text: str) -> str:
    """One ASCII line: NATS header values must be, or clients parse them into
    email.header.Header objects instead of strings."""
    text = " ".join(text.split()).replace("…", "...")
    return text.encode("ascii", "backslashreplace").decode("ascii")


def _from_headers(dlq_seq: int, headers: dict[str, str] | None, data: bytes) -> DeadLetter:
    h = headers or {}
    return DeadLetter(
        dlq_seq=dlq_seq,
        consumer=h.get(H_CONSUMER, "?"),
        stream=h.get(H_STREAM, "?"),
        seq=int(h.get(H_SEQ, "0")),
        subject=h.get(H_SUBJECT, "?"),
        reason=h.get(H_REASON, ""),
        attempts=int(h.get(H_ATTEMPTS, "0")),
        time=h.get(H_TIME, ""),
        data=bytes(data),
        headers={k: v for k, v in h.items() if not k.startswith(("Continuum-Dlq-", "Nats-"))},
    )
