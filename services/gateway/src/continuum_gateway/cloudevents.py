"""Reading CloudEvents 1.0 off HTTP requests and NATS messages (no I/O).

Three modes, as the CloudEvents HTTP and NATS protocol bindings define them:

* structured: ``Content-Type: application/cloudevents+json``, the body is one
  event as a JSON object;
* batched: ``Content-Type: application/cloudevents-batch+json``, the body is
  a JSON array of events;
* binary: the attributes travel as ``ce-<name>`` headers (percent-encoded),
  ``Content-Type`` is the ``datacontenttype`` and the body is the data.

The result is one ``Candidate`` per event: its attributes, or the reason
they could not be read. Whether an event is acceptable is the admission's
job (``continuum_gateway.admission``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from continuum import jsoninput

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
JSON = "application/json"
MAX_BATCH = 1000
_BINARY_PREFIX = "ce-"


class UnreadableRequest(Exception):
    """The request as a whole cannot be read as CloudEvents (answered 400/415)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Candidate:
    """One event as received: its attributes, or why they could not be read."""

    index: int
    attributes: dict[str, Any] | None
    error: str | None = None


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _json(body: bytes, what: str) -> Any:
    if not body.strip():
        raise UnreadableRequest(f"the body is empty; expected {what}")
    try:
        return jsoninput.loads(body)
    except jsoninput.UnsafeJson as exc:
        raise UnreadableRequest(f"{exc}; expected {what}") from None


def _is_json_media(media: str) -> bool:
    return media == JSON or media.endswith("+json")


def read_events(headers: Mapping[str, str], body: bytes) -> list[Candidate]:
    """Candidates from one request or message; ``headers`` keys must be lower case."""
    media = media_type(headers.get("content-type"))
    if media == STRUCTURED:
        event = _json(body, "one CloudEvent as a JSON object")
        if not isinstance(event, dict):
            raise UnreadableRequest("a structured-mode CloudEvent must be a JSON object")
        return [Candidate(0, event)]
    if media == BATCH:
        events = _json(body, "a JSON array of CloudEvents")
        if not isinstance(events, list):
            raise UnreadableRequest("a batched-mode body must be a JSON array of CloudEvents")
        if not events:
            raise UnreadableRequest("the batch is empty")
        if len(events) > MAX_BATCH:
            raise UnreadableRequest(
                f"the batch holds {len(events)} events, the limit is {MAX_BATCH}", 422
            )
        return [
            Candidate(i, e) if isinstance(e, dict) else Candidate(i, None, "not a JSON object")
            for i, e in enumerate(events)
        ]
    if any(name.startswith(_BINARY_PREFIX) for name in headers):
        return [_binary(headers, media, body)]
    if not media:
        raise UnreadableRequest(
            f"Content-Type is missing; send {STRUCTURED}, {BATCH}, or ce-* headers (binary mode)",
            415,
        )
    raise UnreadableRequest(
        f"Content-Type {media} without ce-* headers is not a CloudEvent; send {STRUCTURED}, "
        f"{BATCH}, or binary mode (ce-specversion, ce-id, ce-source, ce-type headers)",
        415,
    )


def _binary(headers: Mapping[str, str], media: str, body: bytes) -> Candidate:
    attributes: dict[str, Any] = {}
    for name, value in headers.items():
        if name.startswith(_BINARY_PREFIX) and len(name) > len(_BINARY_PREFIX):
            attributes[name[len(_BINARY_PREFIX) :]] = text = unquote(value)
            try:
                jsoninput.check_text(text, f"header {name}")
            except jsoninput.UnsafeJson as exc:
                return Candidate(0, None, str(exc))
    if "data" in attributes or "datacontenttype" in attributes:
        return Candidate(0, None, "ce-data and ce-datacontenttype are not headers (use the body)")
    if media:
        attributes["datacontenttype"] = media
    if body:
        # No Content-Type: the CloudEvents JSON default (what the SDK sends).
        if media and not _is_json_media(media):
            return Candidate(
                0, None, f"datacontenttype {media or '(none)'}: Continuum events carry JSON data"
            )
        try:
            attributes["data"] = jsoninput.loads(body, what="the body (the event's data)")
        except jsoninput.UnsafeJson as exc:
            return Candidate(0, None, str(exc))
    return Candidate(0, attributes)
