"""Errors raised while building, encoding or decoding events.

Each one names the problem in words a user can act on; all derive from
``EventError`` (a ``ValueError``) so edges can turn any of them into a clean
4xx / CLI message / dead letter with one ``except``.
"""

from __future__ import annotations


class EventError(ValueError):
    """Base class: the event cannot be accepted as it is."""

    reason = "invalid-event"


class MalformedEvent(EventError):
    reason = "malformed"


class UnknownEventType(EventError):
    reason = "unknown-type"


class UnknownEventVersion(UnknownEventType):
    reason = "unknown-version"


class InvalidEventData(EventError):
    reason = "invalid-data"


class SignatureError(EventError):
    reason = "bad-signature"


class EventTooLarge(EventError):
    reason = "too-large"
