"""Serving the web app: ``/`` is its page, ``/ui/`` its static files.

The app is plain files in this package (ADR 0020): no build step, nothing
fetched from elsewhere, a client of the public API like any other. Its
responses carry a strict Content-Security-Policy (scripts and connections
to this origin only, no inline script), so text that slipped past the app's
escaping still could not run.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ROOT = Path(__file__).resolve().parent.parent / "webapp"
PREFIX = "/ui"

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
]


class _Hardened:
    """Adds the security headers to every response of the wrapped app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *(h for h in message.get("headers", []) if h[0] != b"cache-control"),
                    *HEADERS,
                ]
            await send(message)

        await self.app(scope, receive, send_hardened)


async def _index() -> FileResponse:
    return FileResponse(
        ROOT / "index.html",
        media_type="text/html; charset=utf-8",
        headers={k.decode(): v.decode() for k, v in HEADERS},
    )


def mount(app: FastAPI) -> None:
    app.add_api_route("/", _index, include_in_schema=False, methods=["GET"])
    app.mount(PREFIX, _Hardened(StaticFiles(directory=ROOT)), name="webapp")
