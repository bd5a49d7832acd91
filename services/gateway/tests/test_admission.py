"""The admission rules and the CloudEvents readers, without I/O."""

from __future__ import annotations

from typing import Any

import pytest

from continuum.events.codec import EventCodec
from continuum.events.envelope import Envelope
from continuum.identity import NodeIdentity
from continuum.ids import uuid7_str
from continuum_gateway.admission import Admissions
from continuum_gateway.cloudevents import Candidate, UnreadableRequest, read_events
from continuum_gateway.ratelimit import RateLimiter

NODE = NodeIdentity.generate()
TOOL = NodeIdentity.generate()


def attrs(**extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": uuid7_str(),
        "source": "/t",
        "type": "continuum.mesh.annotation.added.v1",
        "subject": "a1",
        "data": {"text": "x"},
        **extra,
    }


def admissions(require_signature: bool = False) -> Admissions:
    return Admissions(NODE, EventCodec(65536), require_signature=require_signature)


def test_unsigned_events_are_vouched_for_by_the_node() -> None:
    result = admissions().admit(Candidate(0, attrs()), "token:abc", frozenset())
    assert result.envelope is not None
    assert result.envelope.node == NODE.node_id
    assert result.envelope.model_extra == {"publisher": "token:abc"}
    result.envelope.model_copy().verify()  # a real signature, not just the in-process flag


def test_a_node_can_require_signatures() -> None:
    strict = admissions(require_signature=True)
    unsigned = strict.admit(Candidate(0, attrs()), "token:abc", frozenset())
    assert unsigned.reason and "signed by a registered publisher key" in unsigned.reason
    signed = Envelope.model_validate(attrs(node=TOOL.node_id, time="2026-01-01T00:00:00Z"))
    ok = strict.admit(
        Candidate(0, signed.signed_by(TOOL).attributes()), "token:abc", {TOOL.node_id}
    )
    assert ok.accepted, ok.reason


def test_signed_event_with_unsigned_gateway_fields_is_refused() -> None:
    signed = Envelope.model_validate(attrs(node=TOOL.node_id, time="2026-01-01T00:00:00Z"))
    sent = {**signed.signed_by(TOOL).attributes(), "publisher": "me"}
    result = admissions().admit(Candidate(0, sent), "token:abc", {TOOL.node_id})
    assert result.reason and "publisher" in result.reason


def test_binary_mode_headers_are_percent_decoded() -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "x",
        "ce-source": "/a%20b",
        "ce-type": "t",
        "content-type": "application/json; charset=utf-8",
    }
    (candidate,) = read_events(headers, b'{"k": 1}')
    assert candidate.attributes == {
        "specversion": "1.0",
        "id": "x",
        "source": "/a b",
        "type": "t",
        "datacontenttype": "application/json",
        "data": {"k": 1},
    }


def test_batches_over_the_limit_are_refused_whole() -> None:
    body = b"[" + b",".join(b"{}" for _ in range(1001)) + b"]"
    with pytest.raises(UnreadableRequest) as caught:
        read_events({"content-type": "application/cloudevents-batch+json"}, body)
    assert caught.value.status == 422  # the schema's maxItems, not a size in bytes


def test_rate_limiter_refills_and_says_how_long_to_wait() -> None:
    limiter = RateLimiter(rate=2.0, burst=2)
    assert limiter.acquire("t", now=0.0) == 0.0
    assert limiter.acquire("t", now=0.0) == 0.0
    assert limiter.acquire("t", now=0.0) == pytest.approx(0.5)
    assert limiter.acquire("other", now=0.0) == 0.0
    assert limiter.acquire("t", now=0.5) == 0.0
    assert RateLimiter(rate=0, burst=1).acquire("t") == 0.0
