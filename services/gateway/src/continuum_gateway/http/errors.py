"""Every error the HTTP API gives is JSON: ``{"error": {"status", "message"}}``.

No stack trace or exception text from inside the service reaches a client;
an unexpected failure is logged and answered with a plain 500.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("continuum.gateway.http")


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra


def error_body(status: int, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, **extra}}


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse(error_body(status, message, **extra), status_code=status, headers=headers)


def unavailable(exc: BaseException) -> str | None:
    """What is down, if ``exc`` says a dependency (PostgreSQL, NATS) cannot be
    reached right now; None for a real failure. A node heals itself (the
    supervisor restarts its servers), so such a request is answered 503 with
    Retry-After, never 500."""
    import asyncpg
    import nats.errors

    if isinstance(
        exc,
        asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.CannotConnectNowError
        | asyncpg.AdminShutdownError
        | asyncpg.CrashShutdownError,
    ):
        return "the database is unavailable"
    if isinstance(exc, nats.errors.ConnectionClosedError | nats.errors.NoServersError):
        return "NATS is unavailable"
    if isinstance(exc, nats.errors.TimeoutError | nats.errors.NoRespondersError):
        return "a service did not answer in time"
    if isinstance(exc, ConnectionError | TimeoutError):
        return "a connection to a backing server failed"
    return None


def _describe(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "request"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


def install(app: FastAPI) -> None:
    async def api_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.headers, **exc.extra)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; a path
            # served by several routes (GET and POST) allows all of theirs.
            allowed = _allowed_methods(app, request.scope)
            headers = {**(headers or {}), "Allow": ", ".join(allowed)}
            message = f"{request.method} is not allowed here; allowed: {', '.join(allowed)}"
            return error_response(405, message, headers)
        return error_response(exc.status_code, str(exc.detail), headers)

    async def validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, _describe(exc))

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def _allowed_methods(app: FastAPI, scope: MutableMapping[str, Any]) -> list[str]:
    from starlette.routing import Match, Route

    methods: set[str] = set()
    for route in app.router.routes:
        if isinstance(route, Route) and route.methods:
            match, _ = route.matches({**scope, "method": next(iter(route.methods))})
            if match is Match.FULL:
                methods |= route.methods
    return sorted(methods)
