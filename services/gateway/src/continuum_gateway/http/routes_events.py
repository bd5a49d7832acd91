"""Publishing CloudEvents, querying the event log, following it live."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import StringConstraints

from continuum.events.catalog import CONTEXTS, catalog
from continuum.events.envelope import AGGREGATE_ID_PATTERN, TYPE_PATTERN
from continuum.store import EventStoreError
from continuum.store.streaming import (
    BadFilter,
    Follower,
    StreamedEvent,
    StreamFilter,
    parse_cursor,
)
from continuum_gateway.cloudevents import BATCH, STRUCTURED, UnreadableRequest, read_events
from continuum_gateway.event_log import MAX_QUERY_LIMIT, query_events, type_counts
from continuum_gateway.http.app import Gateway, gateway_of
from continuum_gateway.http.auth import authorize, require
from continuum_gateway.http.errors import ApiError, error_body
from continuum_gateway.http.live import serve_websocket, sse_response
from continuum_gateway.tokens import ApiToken

router = APIRouter()

_TYPE = Query(max_length=256, pattern=r"^[a-z0-9_.]+$", description="An event type.")
_SUBJECT = Query(
    pattern=AGGREGATE_ID_PATTERN.pattern,
    description="An aggregate id (the CloudEvents subject).",
)


def _event_schema() -> dict[str, Any]:
    """A structured-mode CloudEvent this gateway takes: one variant per type
    open to external publishers, each with its data schema. Signed events
    add ``node`` (the registered publisher key) and ``signature``; a schema
    cannot say whether a signature is right, so a wrong one is a 422."""
    variants = []
    for spec in catalog:
        if not spec.external:
            continue
        data = spec.model.model_json_schema()
        data.pop("title", None)
        variants.append(
            {
                "type": "object",
                "title": spec.type,
                "required": ["specversion", "id", "source", "type", "subject"],
                "properties": {
                    "specversion": {"const": "1.0"},
                    "id": {"type": "string", "pattern": _UUID_PATTERN},
                    "source": {"type": "string", "minLength": 1, "maxLength": 512},
                    "type": {"const": spec.type},
                    "subject": {"type": "string", "pattern": AGGREGATE_ID_PATTERN.pattern},
                    "time": {
                        "type": "string",
                        "format": "date-time",
                        "description": "RFC 3339; the gateway fills it in if missing.",
                    },
                    "datacontenttype": {"const": "application/json"},
                    "data": data,
                    "node": {
                        "type": "string",
                        "pattern": "^[a-z2-7]{52}$",
                        "description": "Signed events only: the publisher key that signed it.",
                    },
                    "signature": {
                        "type": "string",
                        "pattern": "^[A-Za-z0-9+/]{86}==$",
                        "description": "Signed events only: Ed25519 over the canonical form.",
                    },
                },
                "dependentRequired": {"signature": ["node"], "node": ["signature"]},
                "additionalProperties": False,
            }
        )
    return {"oneOf": variants} if len(variants) > 1 else variants[0]


_CURSOR = r"^([0-9]{1,19}|EVT_[A-Z][A-Z0-9_]*:[0-9]{1,19}(,EVT_[A-Z][A-Z0-9_]*:[0-9]{1,19}){0,15})$"
_UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
_EVENT_SCHEMA = _event_schema()
_PUBLISH_BODY = {
    "requestBody": {
        "required": True,
        "description": "Structured mode (one event), batched mode (an array), or binary mode: "
        "the event's data as application/json with the ce-* headers.",
        "content": {
            STRUCTURED: {"schema": _EVENT_SCHEMA},
            BATCH: {
                "schema": {"type": "array", "items": _EVENT_SCHEMA, "minItems": 1, "maxItems": 1000}
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "binary mode: the event's data; the attributes travel as "
                    "ce-specversion, ce-id, ce-source, ce-type and ce-subject headers",
                },
            },
        },
    }
}


@router.post(
    "/v1/events",
    summary="Publish CloudEvents (structured, batched or binary mode)",
    openapi_extra=_PUBLISH_BODY,
    responses={
        200: {"description": "every event accepted (each with its stream sequence)"},
        207: {
            "description": "partial=true and some events were rejected: the valid ones were "
            "appended; `results` says which, `message` why the others were not"
        },
        422: {"description": "some event was rejected; nothing was appended"},
    },
)
async def publish(
    request: Request,
    token: Annotated[ApiToken, Depends(require("publish"))],
    partial: Annotated[
        bool, Query(description="Append the valid events even if others are rejected.")
    ] = False,
) -> JSONResponse:
    gateway = gateway_of(request)
    headers = {k.lower(): v for k, v in request.headers.items()}
    body = await request.body()
    try:
        candidates = read_events(headers, body)
    except UnreadableRequest as exc:
        raise ApiError(exc.status, str(exc)) from None
    try:
        outcome = await gateway.ingress.publish(
            candidates, f"token:{token.id}", partial=partial, via="http"
        )
    except EventStoreError as exc:
        raise ApiError(503, f"the event log is unavailable ({exc}); retrying is safe") from None
    body_out = outcome.public()
    if outcome.rejected:
        message = "; ".join(outcome.reasons[:5])
        if partial and outcome.accepted:
            # A partial success is a success: its results, and what was left out, no "error".
            kept = f"{outcome.accepted} of {outcome.accepted + outcome.rejected} appended"
            return JSONResponse({**body_out, "message": f"{kept}; {message}"}, status_code=207)
        message = f"nothing was appended: {message}"
        return JSONResponse({**error_body(422, message), **body_out}, status_code=422)
    return JSONResponse(body_out)


@router.get("/v1/events", summary="Query the event log (newest first)")
async def list_events(
    request: Request,
    _: Annotated[ApiToken, Depends(require("read"))],
    type: Annotated[str | None, _TYPE] = None,
    subject: Annotated[str | None, _SUBJECT] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_QUERY_LIMIT)] = 100,
) -> dict[str, Any]:
    events = await query_events(
        gateway_of(request).pool, event_type=type, subject=subject, limit=limit
    )
    return {"events": events}


@router.get("/v1/events/stats", summary="Events per type")
async def event_stats(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    return {"types": await type_counts(gateway_of(request).pool)}


def _filter(types: list[str], context: str | None, subject: str | None) -> StreamFilter:
    try:
        return StreamFilter.parse(types, context, subject)
    except BadFilter as exc:
        raise ApiError(400, str(exc)) from None


async def _open(gateway: Gateway, wanted: StreamFilter, last_event_id: str | None) -> Follower:
    try:
        cursor = parse_cursor(last_event_id, wanted.streams)
    except BadFilter as exc:
        raise ApiError(400, str(exc)) from None
    follower = Follower(gateway.nc, gateway.codec, wanted, cursor)
    try:
        await follower.open()
    except Exception as exc:
        raise ApiError(503, f"cannot follow the event log: {exc}") from None
    return follower


@router.get(
    "/v1/events/stream",
    summary="Follow events live (Server-Sent Events; WebSocket on the same path)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    request: Request,
    _: Annotated[ApiToken, Depends(require("read", query_token=True))],
    type: Annotated[
        list[Annotated[str, StringConstraints(pattern=TYPE_PATTERN.pattern)]] | None,
        Query(max_length=32, description="Event types to follow (all of one context)."),
    ] = None,
    context: Annotated[
        str | None, Query(pattern=f"^({'|'.join(CONTEXTS)})$", description="A context.")
    ] = None,
    subject: Annotated[str | None, _SUBJECT] = None,
    last_event_id: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern=_CURSOR,
            description="Resume after this cursor (STREAM:SEQ,...; a bare sequence for one "
            "stream); the Last-Event-ID header works too.",
        ),
    ] = None,
    wrap: Annotated[
        bool,
        Query(
            description="Send {event, trace_id} (the W3C trace the event was appended "
            "under, or null) instead of the bare CloudEvent, as the WebSocket does."
        ),
    ] = False,
) -> StreamingResponse:
    gateway = gateway_of(request)
    wanted = _filter(type or [], context, subject)
    resume = request.headers.get("last-event-id") or last_event_id
    follower = await _open(gateway, wanted, resume)

    def frame(item: StreamedEvent) -> tuple[str, dict[str, Any]]:
        data = {"event": item.event, "trace_id": item.trace_id} if wrap else item.event
        return item.cursor, data

    return sse_response(follower, f"following {follower.cursor}", frame)


@router.websocket("/v1/events/stream")
async def stream_events_ws(websocket: WebSocket) -> None:
    """Each message is ``{"id": cursor, "event": CloudEvent}``; errors are
    ``{"error": {...}}`` followed by a close (4400 bad request, 4401, 4403, 4429)."""
    gateway = gateway_of(websocket)
    await websocket.accept()
    params = websocket.query_params
    try:
        await authorize(
            gateway,
            websocket.headers.get("authorization"),
            params.get("access_token"),
            "read",
        )
        wanted = _filter(params.getlist("type"), params.get("context"), params.get("subject"))
        resume = websocket.headers.get("last-event-id") or params.get("last_event_id")
        follower = await _open(gateway, wanted, resume)
    except ApiError as exc:
        await websocket.send_json(error_body(exc.status, exc.message))
        await websocket.close(code=4000 + exc.status if exc.status < 600 else 4500)
        return
    await serve_websocket(
        websocket,
        follower,
        {"following": follower.cursor},
        lambda item: {"id": item.cursor, "event": item.event, "trace_id": item.trace_id},
    )
