"""In-process HTTP servers that speak Ollama's and the OpenAI API's exact
streaming protocols, for tests and benchmarks (no such server can run on a
machine without internet or GPU).

``Script`` says what the server streams and how it misbehaves: pieces and
the delay between them, dying mid-stream (the connection drops before the
final chunk), stalling (nothing more is sent), or an HTTP error. Every
request body is recorded, and so is a client that went away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from continuum.node.ports import free_port


class _Dropped(Exception):
    """Raised inside a streaming body: uvicorn drops the connection mid-response."""


@dataclass
class Script:
    pieces: list[str] = field(default_factory=lambda: ["Hello", " from", " the", " server", "."])
    delay_s: float = 0.0
    die_after: int | None = None
    stall_after: int | None = None
    status: int = 200


@dataclass
class WireServer:
    kind: str  # "ollama" or "openai"
    script: Script = field(default_factory=Script)
    requests: list[dict[str, Any]] = field(default_factory=list)
    disconnects: int = 0
    #: time.perf_counter() of each client hang-up (the same clock as the test's).
    disconnected_at: list[float] = field(default_factory=list)
    sent: int = 0
    first_piece_at: list[float] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _pieces(self, request: Request) -> AsyncIterator[tuple[int, str]]:
        script = self.script
        try:
            for i, piece in enumerate(script.pieces):
                if script.die_after is not None and i >= script.die_after:
                    raise _Dropped()
                if script.stall_after is not None and i >= script.stall_after:
                    await asyncio.sleep(3600)
                if script.delay_s:
                    await asyncio.sleep(script.delay_s)
                if i == 0:
                    self.first_piece_at.append(time.perf_counter())
                self.sent += 1
                yield i, piece
        except asyncio.CancelledError:
            self.disconnects += 1
            self.disconnected_at.append(time.perf_counter())
            raise

    async def _ollama_chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if self.script.status != 200:
            return JSONResponse({"error": "model not found"}, status_code=self.script.status)
        model = body.get("model", "")

        async def lines() -> AsyncIterator[bytes]:
            async for _, piece in self._pieces(request):
                chunk = {
                    "model": model,
                    "created_at": "2026-11-28T00:00:00Z",
                    "message": {"role": "assistant", "content": piece},
                    "done": False,
                }
                yield (json.dumps(chunk) + "\n").encode()
            final = {
                "model": model,
                "created_at": "2026-11-28T00:00:00Z",
                "message": {"role": "assistant", "content": ""},
                "done": True,
                "done_reason": "stop",
                "eval_count": len(self.script.pieces),
            }
            yield (json.dumps(final) + "\n").encode()

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def _ollama_version(self, request: Request) -> Response:
        return JSONResponse({"version": "0.12.0"})

    async def _openai_chat(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        if self.script.status != 200:
            error = {"error": {"message": "no such model", "type": "invalid_request_error"}}
            return JSONResponse(error, status_code=self.script.status)
        model = body.get("model", "")

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": 1_790_000_000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        async def events() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            async for _, piece in self._pieces(request):
                yield chunk({"content": piece})
            yield chunk({}, "stop")
            yield b"data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    async def start(self) -> WireServer:
        if self.kind == "ollama":
            routes = [
                Route("/api/chat", self._ollama_chat, methods=["POST"]),
                Route("/api/version", self._ollama_version),
            ]
        else:
            routes = [Route("/v1/chat/completions", self._openai_chat, methods=["POST"])]
        config = uvicorn.Config(
            Starlette(routes=routes),
            host="127.0.0.1",
            port=self.port,
            log_level="critical",
            lifespan="off",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
