"""ASGI middleware: body size limit, the JSON input policy, a guard that keeps
every failure a JSON answer, and per-request telemetry."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from continuum import jsoninput, telemetry
from continuum_gateway import metrics
from continuum_gateway.http.errors import error_body, unavailable

log = logging.getLogger("continuum.gateway.http")


class _TooLarge(Exception):
    pass


class _Sent:
    """``send``, remembering whether the response has started (after which an
    error can no longer be answered with a status of its own)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class BodyLimit:
    """Answers 413 for a body over ``limit`` bytes, whether the client declared
    its length or streams it chunked, before the app reads past the limit."""

    def __init__(self, app: ASGIApp, limit: int, larger: dict[str, int] | None = None) -> None:
        self.app = app
        self.default = limit
        #: Path prefix -> a limit of its own (layer uploads are bigger than events).
        self.larger = larger or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        limit = next((n for p, n in self.larger.items() if path.startswith(p)), self.default)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                await _send_json(send, 400, "Content-Length is not a number")
                return
            if too_big:
                await _send_json(send, 413, self._message(limit))
                return
        received = 0
        sent = _Sent(send)

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        try:
            await self.app(scope, limited_receive, sent)
        except _TooLarge:
            if not sent.started:
                await _send_json(send, 413, self._message(limit))

    def _message(self, limit: int) -> str:
        return f"request body is larger than the limit of {limit} bytes"


class JsonPolicy:
    """Applies ``continuum.jsoninput``'s policy (nesting depth, valid Unicode,
    no NUL) to every JSON request body before any route sees it, so the same
    input gets the same 400 on every route, and nothing is half-applied."""

    def __init__(self, app: ASGIApp, applied_by_route: frozenset[str] = frozenset()) -> None:
        self.app = app
        #: Paths whose handler reads its body through jsoninput itself (the
        #: event ingress): checking there too would parse big batches twice.
        self.applied_by_route = applied_by_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.applied_by_route or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            jsoninput.check_body(body)
        except jsoninput.UnsafeJson as exc:
            await _send_json(send, 400, str(exc))
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def _is_json(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-type":
            media = value.split(b";", 1)[0].strip().lower()
            return bool(media == b"application/json" or media.endswith(b"+json"))
    return False


class Guard:
    """The outermost of the gateway's own middleware: an exception that escaped
    every handler becomes a JSON answer here (503 when a dependency is down,
    else 500, logged), and is not re-raised, so the server keeps the client's
    keep-alive connection instead of resetting it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _Sent(send)
        try:
            await self.app(scope, receive, sent)
        except Exception as exc:
            down = unavailable(exc)
            if down is None:
                log.error("%s %s failed", scope["method"], scope["path"], exc_info=exc)
            else:
                log.warning("%s %s: %s", scope["method"], scope["path"], down)
            if sent.started:
                return  # mid-stream: nothing more can be said on this response
            if down is not None:
                await _send_json(send, 503, f"{down}; retrying is safe", {"retry-after": "1"})
            else:
                await _send_json(send, 500, "internal error (see the gateway log)")


async def _send_json(
    send: Send, status: int, message: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *((k.encode(), v.encode()) for k, v in (headers or {}).items()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class Telemetry:
    """A server span per request (continuing the caller's ``traceparent``) and
    the ``http.server.request.duration`` histogram, labelled by route template
    so ids in paths do not explode the metric's cardinality."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        method = scope["method"]
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with telemetry.tracer("continuum.gateway").start_as_current_span(
            f"{method} {scope['path']}",
            context=telemetry.extract(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, recording_send)
            finally:
                route = _route(scope)
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                attributes: dict[str, Any] = {
                    "http.request.method": method,
                    "http.route": route,
                    "http.response.status_code": status,
                }
                metrics.request_duration.record(time.perf_counter() - started, attributes)


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "(unmatched)"
