"""Admission of external events: the rules an outside event must pass (no I/O).

An external event is either

* **signed** by a registered publisher key: its ``node`` attribute is the
  key's id and ``signature`` is Ed25519 over the canonical form, exactly as
  a node signs (ADR 0001). It is stored as sent, so anyone can verify the
  publisher later; or
* **unsigned**: the gateway vouches for it. It sets ``node`` to this node,
  adds the ``publisher`` extension (``token:<id>`` or ``nats``) naming who
  handed it in, fills ``time`` if missing, and signs it as the node.

Either way its type must be in the catalog *and* open to external
publishers (``EventSpec.external``), its data must match the type's schema,
and it must fit the event size limit. A node can insist on signatures.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from continuum.events.catalog import EventCatalog, catalog
from continuum.events.codec import EventCodec
from continuum.events.envelope import (
    Envelope,
    describe_validation_error,
    envelope_from_attributes,
    now_rfc3339,
)
from continuum.events.errors import EventError, MalformedEvent, SignatureError, UnknownEventType
from continuum.identity import NodeIdentity
from continuum_gateway.cloudevents import JSON, Candidate

PUBLISHER_EXTENSION = "publisher"
_REQUIRED = ("id", "source", "type")


class Rejected(EventError):
    """An external event this node will not take, with the reason."""


@dataclass(frozen=True)
class Admission:
    index: int
    envelope: Envelope | None
    reason: str | None = None

    @property
    def accepted(self) -> bool:
        return self.envelope is not None


class Admissions:
    """Applies the admission rules for one node."""

    def __init__(
        self,
        identity: NodeIdentity,
        codec: EventCodec,
        *,
        require_signature: bool = False,
        event_catalog: EventCatalog = catalog,
    ) -> None:
        self._identity = identity
        self._codec = codec
        self._catalog = event_catalog
        self.require_signature = require_signature

    def admit_all(
        self, candidates: list[Candidate], publisher: str, publisher_keys: Collection[str]
    ) -> list[Admission]:
        return [self.admit(c, publisher, publisher_keys) for c in candidates]

    def admit(
        self, candidate: Candidate, publisher: str, publisher_keys: Collection[str]
    ) -> Admission:
        if candidate.attributes is None:
            return Admission(candidate.index, None, candidate.error or "unreadable event")
        try:
            envelope = self._admit(candidate.attributes, publisher, publisher_keys)
        except EventError as exc:
            return Admission(candidate.index, None, str(exc))
        return Admission(candidate.index, envelope)

    def _admit(
        self, attrs: dict[str, Any], publisher: str, publisher_keys: Collection[str]
    ) -> Envelope:
        if attrs.get("specversion") != "1.0":
            raise MalformedEvent('specversion is required and must be "1.0"')
        missing = [name for name in (*_REQUIRED, "subject") if not attrs.get(name)]
        if missing:
            hint = " (subject is the aggregate id)" if "subject" in missing else ""
            raise MalformedEvent(f"missing required attribute(s): {', '.join(missing)}{hint}")
        event_type = attrs["type"]
        if not isinstance(event_type, str):
            raise MalformedEvent("type must be a string")
        spec = self._catalog.spec(event_type)  # UnknownEventType names the problem
        if not spec.external:
            raise UnknownEventType(
                f"{event_type} is emitted by Continuum's own services; external publishers "
                "may not send it"
            )
        content_type = attrs.get("datacontenttype", JSON)
        if content_type != JSON:
            raise MalformedEvent(f"datacontenttype {content_type!r}: events carry {JSON} data")
        if "signature" in attrs:
            envelope = self._signed(attrs, publisher_keys)
        else:
            envelope = self._vouched(attrs, publisher)
        self._codec.encode(envelope)  # EventTooLarge names the limit
        return envelope

    def _signed(self, attrs: dict[str, Any], publisher_keys: Collection[str]) -> Envelope:
        node = attrs.get("node")
        if not isinstance(node, str) or not node:
            raise SignatureError("a signed event must name its publisher key in `node`")
        if node not in publisher_keys:
            raise SignatureError(
                f"key {node[:12]}… is not a registered publisher key of this node "
                "(register it with `continuum publisher add`)"
            )
        if PUBLISHER_EXTENSION in attrs:
            raise MalformedEvent(f"the {PUBLISHER_EXTENSION} attribute is set by the gateway")
        envelope = envelope_from_attributes(attrs)
        return self._codec.check(envelope).envelope  # data schema, then the signature

    def _vouched(self, attrs: dict[str, Any], publisher: str) -> Envelope:
        if self.require_signature:
            raise SignatureError(
                "this node accepts only events signed by a registered publisher key"
            )
        for reserved in ("node", PUBLISHER_EXTENSION, "causationid"):
            if reserved in attrs:
                raise MalformedEvent(
                    f"{reserved} is set by the gateway for unsigned events "
                    "(sign the event with a registered publisher key to set node yourself)"
                )
        fields = dict(attrs)
        if "time" not in fields:
            fields["time"] = now_rfc3339()
        if "data" not in fields:
            fields["data"] = {}
        fields["node"] = self._identity.node_id
        fields[PUBLISHER_EXTENSION] = publisher
        try:
            built = Envelope.model_validate(fields)
        except ValidationError as exc:
            raise MalformedEvent(
                f"not a valid CloudEvent: {describe_validation_error(exc)}"
            ) from None
        # The data is stored as sent; the check validates it against the
        # type's schema (and remembers the typed payload for the store).
        return self._codec.check(built.signed_by(self._identity)).envelope
