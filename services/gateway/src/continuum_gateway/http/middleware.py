"""ASGI middleware: body size limit and per-request telemetry."""

from __future__ import annotations

import json
import time
from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from continuum import telemetry
from continuum_gateway import metrics
from continuum_gateway.http.errors import error_body


class _TooLarge(Exception):
    pass


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
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_json(send, 413, self._message(limit))

    def _message(self, limit: int) -> str:
        return f"request body is larger than the limit of {limit} bytes"


async def _send_json(send: Send, status: int, message: str) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
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
