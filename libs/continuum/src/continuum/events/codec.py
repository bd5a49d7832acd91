"""Building signed events and turning wire bytes back into typed events."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from continuum.events.catalog import EventCatalog, EventSpec, catalog
from continuum.events.envelope import Envelope, now_rfc3339, parse_envelope
from continuum.events.errors import SignatureError
from continuum.events.seal import SEAL_HEADER, seal, seal_is_valid
from continuum.identity import NodeIdentity
from continuum.ids import uuid7_str


@dataclass(frozen=True)
class Event:
    """A decoded event: the verified envelope and its typed payload."""

    envelope: Envelope
    payload: BaseModel


class EventFactory:
    """Creates events signed by this node, validated against the catalog."""

    def __init__(
        self, identity: NodeIdentity, source: str, event_catalog: EventCatalog = catalog
    ) -> None:
        self._identity = identity
        self._source = source
        self._catalog = event_catalog

    @property
    def node_id(self) -> str:
        return self._identity.node_id

    def new(
        self,
        payload: BaseModel,
        aggregate_id: str,
        *,
        caused_by: Envelope | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        spec = self._catalog.spec_for(payload)
        return self._build(
            spec, payload.model_dump(mode="json"), aggregate_id, caused_by, correlation_id
        )

    def new_from_data(
        self,
        event_type: str,
        data: Any,
        aggregate_id: str,
        *,
        caused_by: Envelope | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """Build an event from untrusted data (CLI, HTTP), validating it first."""
        spec = self._catalog.spec(event_type)
        model = self._catalog.validate(event_type, data)
        return self._build(
            spec, model.model_dump(mode="json"), aggregate_id, caused_by, correlation_id
        )

    def _build(
        self,
        spec: EventSpec,
        data: dict[str, Any],
        aggregate_id: str,
        caused_by: Envelope | None,
        correlation_id: str | None,
    ) -> Envelope:
        spec.subject_for(aggregate_id)  # validates the id
        if caused_by is not None:
            correlation_id = correlation_id or caused_by.correlationid or caused_by.id
        envelope = Envelope(
            id=uuid7_str(),
            source=self._source,
            type=spec.type,
            subject=aggregate_id,
            time=now_rfc3339(),
            node=self._identity.node_id,
            causationid=caused_by.id if caused_by else None,
            correlationid=correlation_id,
            data=data,
        )
        return envelope.signed_by(self._identity)


class EventCodec:
    """Wire bytes <-> typed events, enforcing size, schema and signature.

    ``trusted_nodes`` (if given) restricts which node ids may sign; by default
    any event whose signature matches the node it names is accepted.
    """

    def __init__(
        self,
        max_bytes: int,
        event_catalog: EventCatalog = catalog,
        trusted_nodes: Collection[str] | None = None,
        seal_key: bytes | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._catalog = event_catalog
        self._trusted = frozenset(trusted_nodes) if trusted_nodes is not None else None
        self._seal_key = seal_key

    def encode(self, envelope: Envelope) -> bytes:
        return envelope.to_bytes(self.max_bytes)

    def subject_of(self, envelope: Envelope) -> str:
        return self._catalog.spec(envelope.type).subject_for(envelope.subject)

    def check(self, envelope: Envelope) -> Event:
        """Validate an envelope fully: known type, valid data, trusted signature.

        The typed payload is remembered on the (immutable) envelope, so an
        event checked on admission is not validated again by the store."""
        payload = envelope.checked_payload(self._catalog)
        if payload is None:
            payload = self._catalog.validate(envelope.type, envelope.data)
            envelope.remember_payload(self._catalog, payload)
        envelope.verify()
        if self._trusted is not None and envelope.node not in self._trusted:
            raise SignatureError(f"node {envelope.node[:12]}… is not trusted by this node")
        return Event(envelope, payload)

    def seal(self, subject: str, payload: bytes) -> str | None:
        """The node seal for an event this node validated, if a seal key is set."""
        return seal(self._seal_key, subject, payload) if self._seal_key else None

    def decode(
        self, raw: bytes, headers: Mapping[str, str] | None = None, subject: str = ""
    ) -> Event:
        """Wire bytes to a checked event. A valid node seal (see
        continuum.events.seal) stands in for the Ed25519 check."""
        envelope = parse_envelope(raw, self.max_bytes)
        value = headers.get(SEAL_HEADER) if headers else None
        if value and self._seal_key and seal_is_valid(self._seal_key, subject, raw, value):
            envelope.mark_verified()
        return self.check(envelope)
