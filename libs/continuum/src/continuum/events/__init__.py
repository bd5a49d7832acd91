"""Events: the envelope, the catalog of types, signing and the codec.

Names are imported on first use (PEP 562): a process that needs one error
class does not pay for every event model, and the catalog imports the
project's event modules on its first lookup (``catalog.BUILTIN_MODULES``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Eager, and cheap: the submodule ``catalog`` would otherwise shadow the object.
from continuum.events.catalog import CONTEXTS, EventCatalog, EventSpec, catalog

if TYPE_CHECKING:
    from continuum.events import academy as academy
    from continuum.events import builtin as builtin
    from continuum.events import chat as chat
    from continuum.events import genome as genome
    from continuum.events import market as market
    from continuum.events import persona as persona
    from continuum.events.asyncapi import event_catalog_document
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

_WHERE = {
    "event_catalog_document": "asyncapi",
    "Event": "codec",
    "EventCodec": "codec",
    "EventFactory": "codec",
    "CONTENT_TYPE": "envelope",
    "Envelope": "envelope",
    "parse_envelope": "envelope",
    "EventError": "errors",
    "EventTooLarge": "errors",
    "InvalidEventData": "errors",
    "MalformedEvent": "errors",
    "SignatureError": "errors",
    "UnknownEventType": "errors",
    "UnknownEventVersion": "errors",
}
_SUBMODULES = ("academy", "builtin", "chat", "genome", "market", "persona")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"continuum.events.{name}")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'continuum.events' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"continuum.events.{module}"), name)
    globals()[name] = value
    return value


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
