"""Envelope, catalog, codec: every bad input gets a clear, specific error."""

from __future__ import annotations

import json
import uuid

import pytest

from continuum.asyncapi import asyncapi_document
from continuum.events import (
    Envelope,
    EventCatalog,
    EventCodec,
    EventFactory,
    EventTooLarge,
    InvalidEventData,
    MalformedEvent,
    SignatureError,
    UnknownEventType,
    UnknownEventVersion,
    catalog,
)
from continuum.events.builtin import AnnotationAdded
from continuum.identity import NodeIdentity
from continuum.ids import uuid7

ANNOTATION = "continuum.mesh.annotation.added.v1"


def test_uuid7_is_version_7_and_time_ordered() -> None:
    ids = [uuid7() for _ in range(2000)]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in ids)
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_event_is_signed_and_round_trips(factory: EventFactory, codec: EventCodec) -> None:
    event = factory.new(AnnotationAdded(text="hello", tags=["a"]), "agg-1")
    assert event.type == ANNOTATION and event.signature
    decoded = codec.decode(codec.encode(event))
    assert decoded.envelope == event
    assert isinstance(decoded.payload, AnnotationAdded) and decoded.payload.text == "hello"


def test_causation_and_correlation_chain(factory: EventFactory) -> None:
    first = factory.new(AnnotationAdded(text="a"), "x")
    second = factory.new(AnnotationAdded(text="b"), "x", caused_by=first)
    third = factory.new(AnnotationAdded(text="c"), "x", caused_by=second)
    assert second.causationid == first.id and second.correlationid == first.id
    assert third.causationid == second.id and third.correlationid == first.id


@pytest.mark.parametrize(
    "change",
    [
        {"data": {"text": "changed", "tags": [], "severity": "info"}},
        {"subject": "another"},
        {"time": "2020-01-01T00:00:00Z"},
        {"type": "continuum.mesh.node.stopped.v1"},
    ],
)
def test_tampering_breaks_the_signature(
    factory: EventFactory, codec: EventCodec, change: dict
) -> None:
    event = factory.new(AnnotationAdded(text="original"), "agg")
    tampered = json.dumps({**event.attributes(), **change}).encode()
    with pytest.raises((SignatureError, InvalidEventData)):
        codec.decode(tampered)


def test_signature_from_another_key_is_rejected(factory: EventFactory, codec: EventCodec) -> None:
    event = factory.new(AnnotationAdded(text="x"), "agg")
    other = NodeIdentity.generate()
    resigned = event.model_copy(update={"node": other.node_id}).signed_by(other)
    forged = resigned.model_copy(update={"node": event.node})
    with pytest.raises(SignatureError, match="does not match"):
        codec.decode(codec.encode(forged))


def test_unsigned_event_is_rejected(factory: EventFactory, codec: EventCodec) -> None:
    event = factory.new(AnnotationAdded(text="x"), "agg").model_copy(update={"signature": None})
    with pytest.raises(SignatureError, match="not signed"):
        codec.decode(codec.encode(event))


def test_untrusted_node_is_rejected(factory: EventFactory) -> None:
    codec = EventCodec(65536, trusted_nodes=["someone-else"])
    with pytest.raises(SignatureError, match="not trusted"):
        codec.decode(codec.encode(factory.new(AnnotationAdded(text="x"), "agg")))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"specversion": "1.0"}', "id: Field required"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_malformed_events_name_the_problem(codec: EventCodec, raw: bytes, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        codec.decode(raw)


def test_bad_attributes_name_the_field(factory: EventFactory, codec: EventCodec) -> None:
    attrs = factory.new(AnnotationAdded(text="x"), "agg").attributes()
    for field, value, words in [
        ("id", "not-a-uuid", "UUID"),
        ("time", "yesterday", "RFC 3339"),
        ("subject", "has spaces", "aggregate id"),
        ("type", "my.event", "continuum.<context>"),
        ("Bad-Ext", "x", "extension attribute"),
    ]:
        with pytest.raises(MalformedEvent, match=words):
            codec.decode(json.dumps({**attrs, field: value}).encode())


def test_unknown_type_and_unknown_version(factory: EventFactory) -> None:
    with pytest.raises(UnknownEventType, match="unknown event type"):
        factory.new_from_data("continuum.mesh.nothing.here.v1", {}, "a")
    with pytest.raises(UnknownEventVersion, match="no version 7; known versions: v1"):
        factory.new_from_data("continuum.mesh.annotation.added.v7", {"text": "x"}, "a")


def test_wrong_payload_fields_are_listed(factory: EventFactory) -> None:
    with pytest.raises(InvalidEventData, match=r"text: Field required.*colour: Extra inputs"):
        factory.new_from_data(ANNOTATION, {"colour": "red"}, "a")
    with pytest.raises(InvalidEventData, match="severity"):
        factory.new_from_data(ANNOTATION, {"text": "x", "severity": "apocalyptic"}, "a")


def test_bad_aggregate_id(factory: EventFactory) -> None:
    with pytest.raises(InvalidEventData, match="aggregate id"):
        factory.new(AnnotationAdded(text="x"), "evt.>")


def test_oversize_event_is_rejected_both_ways(factory: EventFactory) -> None:
    small = EventCodec(2048)
    event = factory.new(AnnotationAdded(text="x" * 1900, tags=["t"] * 10), "agg")
    with pytest.raises(EventTooLarge, match="the limit is 2048"):
        small.encode(event)
    with pytest.raises(EventTooLarge):
        small.decode(EventCodec(65536).encode(event))


def test_extension_attributes_are_signed(
    factory: EventFactory, codec: EventCodec, identity: NodeIdentity
) -> None:
    base = factory.new(AnnotationAdded(text="x"), "agg")
    with_ext = Envelope.model_validate({**base.attributes(), "signature": None, "traceid": "abc"})
    signed = with_ext.signed_by(identity)
    assert codec.decode(codec.encode(signed)).envelope.model_extra == {"traceid": "abc"}
    stripped = {k: v for k, v in signed.attributes().items() if k != "traceid"}
    with pytest.raises(SignatureError):
        codec.decode(json.dumps(stripped).encode())


def test_catalog_rejects_bad_registrations() -> None:
    local = EventCatalog()
    with pytest.raises(ValueError, match="unknown context"):
        local.register(context="nowhere", aggregate="a", name="b")
    with pytest.raises(ValueError, match="lower_snake_case"):
        local.register(context="mesh", aggregate="Bad", name="b")
    local.register(context="mesh", aggregate="a", name="b")(AnnotationAdded)
    with pytest.raises(ValueError, match="registered twice"):
        local.register(context="mesh", aggregate="a", name="b")(AnnotationAdded)


def test_asyncapi_document_covers_the_catalog() -> None:
    doc = asyncapi_document()
    assert doc["asyncapi"].startswith("3.")
    messages = doc["components"]["messages"].values()
    events = [m for m in messages if m.get("contentType") == "application/cloudevents+json"]
    assert {m["name"] for m in events} == {spec.type for spec in catalog}
    channel = doc["channels"]["mesh.annotation"]
    assert channel["address"] == "evt.mesh.annotation.{aggregateId}"
    payload = doc["components"]["messages"]["continuum_mesh_annotation_added_v1"]["payload"]
    assert payload["properties"]["data"]["required"] == ["text"]
    json.dumps(doc)  # serialisable as is


def test_node_seal_stands_in_for_the_signature_only_for_these_bytes_here(
    factory: EventFactory, identity: NodeIdentity
) -> None:
    from continuum.events.seal import SEAL_HEADER
    from continuum.testing.contracts import forged_signature

    codec = EventCodec(65536, seal_key=identity.seal_key)
    # A bad signature makes every path but a valid seal fail loudly.
    event = forged_signature(factory.new(AnnotationAdded(text="sealed"), "agg"))
    raw = codec.encode(event)
    subject = codec.subject_of(event)
    value = codec.seal(subject, raw)
    assert value is not None
    headers = {SEAL_HEADER: value}
    assert codec.decode(raw, headers, subject).envelope.id == event.id
    with pytest.raises(SignatureError):  # re-routed to another aggregate's subject
        codec.decode(raw, headers, "evt.mesh.annotation.other")
    with pytest.raises(SignatureError):  # bytes changed
        codec.decode(raw.replace(b"sealed", b"sEaled"), headers, subject)
    with pytest.raises(SignatureError):  # another node's seal key
        EventCodec(65536, seal_key=NodeIdentity.generate().seal_key).decode(raw, headers, subject)
    with pytest.raises(SignatureError):  # a consumer without the node key
        EventCodec(65536).decode(raw, headers, subject)
    with pytest.raises(SignatureError):  # no seal at all
        codec.decode(raw, {}, subject)
