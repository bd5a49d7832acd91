"""Running the ASGI app inside the service's event loop.

uvicorn's ``Server.serve`` would install its own SIGTERM/SIGINT handlers;
the service runtime already owns them (graceful stop of projections and
consumers first), so this server leaves signals alone. The socket is bound
here, so a port in use is a clear error rather than uvicorn exiting the
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._server = _QuietServer(
            uvicorn.Config(
                app,
                log_config=None,
                access_log=False,  # query strings may hold access tokens
                lifespan="off",
                timeout_graceful_shutdown=3,
                server_header=False,
            )
        )
        self._task: asyncio.Task[None] | None = None

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets
        # that say they are TCP, and without it Nagle's algorithm and delayed
        # ACKs add ~40 ms to every keep-alive response.
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self._host, self._port))
        except OSError as exc:
            sock.close()
            raise RuntimeError(
                f"the gateway cannot listen on {self._host}:{self._port} ({exc.strerror}); "
                "set CONTINUUM_GATEWAY_PORT / CONTINUUM_GATEWAY_HOST"
            ) from None
        sock.listen(2048)
        sock.setblocking(False)
        return sock

    async def start(self) -> None:
        sock = self._bind()
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name="http")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 10)
