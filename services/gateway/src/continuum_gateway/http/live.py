"""Serving a live source over Server-Sent Events or a WebSocket.

A source is anything with ``next(timeout)`` (an item, or None when nothing
came in time) and ``close()``: the event-log follower, a room stream. The
transports add what every stream needs: keep-alives, the open-streams
metric, noticing a WebSocket client that went away, and closing the source.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TypeVar

from fastapi import WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from continuum_gateway import metrics

KEEPALIVE_S = 15.0
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Source(Protocol[T_co]):
    """``next`` raises StopAsyncIteration when a finite source has ended."""

    async def next(self, timeout: float) -> T_co | None: ...
    async def close(self) -> None: ...


def sse_response(
    source: Source[T], preamble: str, frame: Callable[[T], tuple[str | None, Any]]
) -> StreamingResponse:
    """Stream ``source`` as SSE; ``frame(item)`` gives the event id (or None) and its data."""

    async def frames() -> AsyncIterator[bytes]:
        metrics.open_streams.add(1, {"protocol": "sse"})
        try:
            yield f": {preamble}\nretry: 2000\n\n".encode()
            while True:
                try:
                    item = await source.next(KEEPALIVE_S)
                except StopAsyncIteration:
                    break
                if item is None:
                    yield b": keepalive\n\n"
                    continue
                event_id, data = frame(item)
                head = f"id: {event_id}\n" if event_id is not None else ""
                yield f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
        finally:
            metrics.open_streams.add(-1, {"protocol": "sse"})
            await source.close()

    return StreamingResponse(
        frames(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def serve_websocket(
    websocket: WebSocket,
    source: Source[T],
    hello: dict[str, Any] | None,
    message: Callable[[T], dict[str, Any]],
) -> None:
    """Send ``source``'s items as JSON messages until the client goes away."""
    metrics.open_streams.add(1, {"protocol": "websocket"})

    async def drain_client() -> None:  # notice a client that goes away while we wait
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    reader = asyncio.create_task(drain_client())
    try:
        if hello is not None:
            await websocket.send_json(hello)
        while not reader.done():
            item = await source.next(1.0)
            if item is not None:
                await websocket.send_json(message(item))
    except WebSocketDisconnect:
        pass
    finally:
        reader.cancel()
        metrics.open_streams.add(-1, {"protocol": "websocket"})
        await source.close()
