"""What the HTTP backends (Ollama, OpenAI-compatible) share: a client, the
timeouts, turning transport failures into BackendError, and cancellation by
closing the response (both servers stop generating when the client goes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from continuum_lm.generation import BackendError


class HttpStreamingBackend:
    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 30.0,
        context_tokens: int = 4096,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout_s
        self._context = context_tokens
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers or {},
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
        )

    @property
    def context_tokens(self) -> int:
        return self._context

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)  # the usual ~4 characters per token of BPE vocabularies

    async def lines(
        self, path: str, body: dict[str, Any], cancel: asyncio.Event
    ) -> AsyncIterator[str]:
        """POST ``body`` and yield the response's lines until done or cancelled."""
        try:
            async with self._client.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    raise BackendError(
                        f"{self.name} at {self.base_url} answered {response.status_code}: {detail}"
                    )
                iterator = response.aiter_lines().__aiter__()
                while not cancel.is_set():
                    next_line = asyncio.ensure_future(iterator.__anext__())
                    stop = asyncio.ensure_future(cancel.wait())
                    try:
                        done, _ = await asyncio.wait(
                            {next_line, stop},
                            timeout=self._timeout,
                            return_when=asyncio.FIRST_COMPLETED,
                        )
                    finally:
                        stop.cancel()
                    if not done:
                        next_line.cancel()
                        raise BackendError(
                            f"{self.name} at {self.base_url} sent nothing for {self._timeout:g} s"
                        )
                    if next_line not in done:
                        next_line.cancel()
                        with contextlib.suppress(BaseException):
                            await next_line
                        return  # cancelled: leaving the block closes the response
                    try:
                        line = next_line.result()
                    except StopAsyncIteration:
                        return
                    if line:
                        yield line
        except httpx.HTTPError as exc:
            raise BackendError(
                f"{self.name} at {self.base_url} failed: {type(exc).__name__}: {exc}"
            ) from None

    async def close(self) -> None:
        await self._client.aclose()
