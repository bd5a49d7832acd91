"""The event envelope: CloudEvents 1.0 attributes plus Continuum extensions.

On the wire an event is a structured-mode CloudEvent (JSON). Extensions:
``node`` (emitting node id), ``causationid`` and ``correlationid`` (event ids
that caused / started this chain) and ``signature`` (Ed25519 over the
canonical form, base64).

The canonical form is the JSON object of every attribute except
``signature``, keys sorted at every level, no insignificant whitespace, UTF-8.
``time`` is kept as the exact string the emitter wrote, so a signature made by
any language verifies here byte for byte.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from continuum import jsoninput
from continuum.events.errors import EventTooLarge, MalformedEvent, SignatureError
from continuum.identity import NodeIdentity, verify_signature

CONTENT_TYPE = "application/cloudevents+json"
TYPE_PATTERN = re.compile(r"^continuum\.([a-z][a-z0-9_]*)\.([a-z][a-z0-9_.]*)\.v([1-9][0-9]{0,3})$")
AGGREGATE_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
_EXTENSION_TYPES = (str, int, bool)
# Built once: json.dumps builds a new encoder per call for non-default options.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
_WIRE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")


def format_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_rfc3339() -> str:
    return format_time(datetime.now(UTC))


class Envelope(BaseModel):
    """A CloudEvent as Continuum stores it. Immutable once built."""

    model_config = ConfigDict(frozen=True, extra="allow")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(max_length=256)
    subject: str
    time: str
    datacontenttype: Literal["application/json"] = "application/json"
    node: str = Field(min_length=1, max_length=64)
    causationid: str | None = None
    correlationid: str | None = None
    signature: str | None = None
    data: dict[str, Any]

    # Process-local bookkeeping, kept out of the fields (and of pydantic's
    # private-attribute machinery, whose per-instance set-up costs microseconds
    # on the hot path): "raw" = the attributes exactly as received (the
    # signature covers these, omitted defaults and all); "verified" = this
    # very object's signature was made or checked in this process; "bytes" =
    # its encoding; "payload" = (catalog, typed data) once a codec checked it.
    # Envelopes are immutable and every copy starts without any of them.

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Envelope:
        copy = super().model_copy(update=update, deep=deep)
        object.__setattr__(copy, "__pydantic_private__", None)
        return copy

    def _private(self, name: str) -> Any:
        private = self.__pydantic_private__
        return private.get(name) if private else None

    def _set_private(self, **values: Any) -> None:
        private = self.__pydantic_private__
        if private is None:
            private = {}
            object.__setattr__(self, "__pydantic_private__", private)
        private.update(values)

    def __eq__(self, other: object) -> bool:
        # Compare what the event says, not process-local bookkeeping.
        if not isinstance(other, Envelope):
            return NotImplemented
        return self.attributes() == other.attributes()

    __hash__ = BaseModel.__hash__

    @field_validator("id")
    @classmethod
    def _check_id(cls, value: str) -> str:
        if not _UUID.match(value):
            raise ValueError("must be a UUID (Continuum uses UUIDv7)")
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str) -> str:
        if not TYPE_PATTERN.match(value):
            raise ValueError("must look like continuum.<context>.<event>.v<N>")
        return value

    @field_validator("subject")
    @classmethod
    def _check_subject(cls, value: str) -> str:
        if not AGGREGATE_ID_PATTERN.match(value):
            raise ValueError("aggregate id must be 1-128 characters of A-Z a-z 0-9 _ -")
        return value

    @field_validator("time")
    @classmethod
    def _check_time(cls, value: str) -> str:
        if not _RFC3339.match(value):
            raise ValueError("must be an RFC 3339 timestamp such as 2026-01-31T12:00:00Z")
        try:  # the shape is right; is it a real moment (no month 13, no 25:00)?
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{value!r} is not a real date and time") from None
        return value

    @model_validator(mode="after")
    def _check_extensions(self) -> Envelope:
        for name, value in (self.model_extra or {}).items():
            if not _EXTENSION_NAME.match(name):
                raise ValueError(f"extension attribute {name!r}: names are 1-20 of a-z 0-9")
            if not isinstance(value, _EXTENSION_TYPES):
                raise ValueError(f"extension attribute {name!r} must be a string, integer or bool")
        return self

    def attributes(self) -> dict[str, Any]:
        """Every attribute that is set, as JSON-ready values."""
        return self.model_dump(mode="json", exclude_none=True)

    def wire_attributes(self) -> dict[str, Any]:
        """The attributes to send: as received if parsed, else as built."""
        raw: dict[str, Any] | None = self._private("raw")
        return raw if raw is not None else self.attributes()

    def canonical_bytes(self) -> bytes:
        attrs = {
            k: v for k, v in self.wire_attributes().items() if k != "signature" and v is not None
        }
        return _CANONICAL_JSON.encode(attrs).encode("utf-8")

    def signed_by(self, identity: NodeIdentity) -> Envelope:
        if self.node != identity.node_id:
            raise SignatureError("event's node attribute does not match the signing node")
        canonical = self.canonical_bytes()
        signature = base64.b64encode(identity.sign(canonical)).decode("ascii")
        signed = self.model_copy(update={"signature": signature})
        # The wire form need not be sorted, so it is the canonical form with the
        # signature appended: one JSON encoding per event instead of two.
        wire = canonical[:-1] + b',"signature":"' + signature.encode("ascii") + b'"}'
        signed._set_private(verified=True, bytes=wire)
        return signed

    def checked_payload(self, event_catalog: object) -> BaseModel | None:
        """The payload ``event_catalog`` validated for this envelope, if any."""
        found: tuple[object, BaseModel] | None = self._private("payload")
        return found[1] if found is not None and found[0] is event_catalog else None

    def remember_payload(self, event_catalog: object, payload: BaseModel) -> None:
        self._set_private(payload=(event_catalog, payload))

    def mark_verified(self) -> None:
        """Record that this envelope's content was proven genuine another way
        (the node seal); only continuum.events.codec calls this."""
        self._set_private(verified=True)

    def verify(self) -> None:
        """Raise SignatureError unless the event is signed by the node it names."""
        if self._private("verified"):
            return
        if not self.signature:
            raise SignatureError("event is not signed")
        try:
            raw = base64.b64decode(self.signature, validate=True)
        except ValueError:
            raise SignatureError("signature is not valid base64") from None
        if not verify_signature(self.node, self.canonical_bytes(), raw):
            raise SignatureError(
                f"signature does not match the event's content and node {self.node[:12]}…"
            )
        self._set_private(verified=True)

    def to_bytes(self, max_bytes: int) -> bytes:
        raw: bytes | None = self._private("bytes")
        if raw is None:  # immutable, so encoded once (admission, then the store)
            raw = _WIRE_JSON.encode(self.wire_attributes()).encode()
            self._set_private(bytes=raw)
        if len(raw) > max_bytes:
            raise EventTooLarge(
                f"event is {len(raw)} bytes, the limit is {max_bytes}: events carry metadata; "
                "put large blobs in the object store and reference them"
            )
        return raw


def describe_validation_error(exc: ValidationError, what: str = "event") -> str:
    """A pydantic refusal in one line, ``field.path: problem; ...`` (the first
    five, then how many more), for events, commands and mesh messages alike."""
    errors = exc.errors(include_url=False)
    parts = [
        f"{'.'.join(str(p) for p in e['loc'] if p != 'body') or what}: "
        f"{e['msg'].removeprefix('Value error, ')}"
        for e in errors[:5]
    ]
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts) or f"{what} is not valid"


def parse_envelope(raw: bytes, max_bytes: int) -> Envelope:
    """Parse wire bytes into an Envelope, with errors that name the problem."""
    if len(raw) > max_bytes:
        raise EventTooLarge(f"event is {len(raw)} bytes, the limit is {max_bytes}")
    try:
        obj = jsoninput.loads(raw, what="the event")
    except jsoninput.UnsafeJson as exc:
        raise MalformedEvent(str(exc)) from None
    if not isinstance(obj, dict):
        raise MalformedEvent("event must be a JSON object (a structured-mode CloudEvent)")
    return envelope_from_attributes(obj)


def envelope_from_attributes(obj: dict[str, Any]) -> Envelope:
    """An Envelope from received attributes, remembering them exactly as received
    (the signature covers them, omitted defaults and all)."""
    try:
        envelope = Envelope.model_validate(obj)
    except ValidationError as exc:
        raise MalformedEvent(f"not a valid CloudEvent: {describe_validation_error(exc)}") from None
    envelope._set_private(raw=obj)
    return envelope
