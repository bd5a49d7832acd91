"""Events: the envelope, the catalog of types, signing and the codec."""

from continuum.events import academy as academy
from continuum.events import builtin as builtin
from continuum.events import chat as chat
from continuum.events import genome as genome
from continuum.events import market as market
from continuum.events import persona as persona
from continuum.events.asyncapi import event_catalog_document
from continuum.events.catalog import CONTEXTS, EventCatalog, EventSpec, catalog
from continuum.events.codec import Event, EventCodec, EventFactory
from continuum.events.envelope import CONTENT_TYPE, Envelope, parse_envelope
from continuum.events.errors import (
    EventError,
    EventTooLarge,
    InvalidEventData,
    MalformedEvent,
    SignatureError,
    UnknownEventType,
    UnknownEventVersion,
)

__all__ = [
    "CONTENT_TYPE",
    "CONTEXTS",
    "Envelope",
    "Event",
    "EventCatalog",
    "EventCodec",
    "EventError",
    "EventFactory",
    "EventSpec",
    "EventTooLarge",
    "InvalidEventData",
    "MalformedEvent",
    "SignatureError",
    "UnknownEventType",
    "UnknownEventVersion",
    "catalog",
    "event_catalog_document",
    "parse_envelope",
]
