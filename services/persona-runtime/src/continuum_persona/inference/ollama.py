"""Ollama's native chat API: ``POST /api/chat`` with ``"stream": true``
answers newline-delimited JSON objects, each with ``message.content``, the
last with ``"done": true``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx

from continuum_lm.generation import BackendError, GenerationRequest
from continuum_persona.inference.http_streaming import HttpStreamingBackend

DEFAULT_HOST = "http://127.0.0.1:11434"


def normalized_host(host: str) -> str:
    """OLLAMA_HOST may be ``host:port`` without a scheme, as the ollama CLI accepts."""
    host = host.strip() or DEFAULT_HOST
    if "://" not in host:
        host = "http://" + host
    return host.rstrip("/")


async def ollama_answers(host: str, timeout_s: float = 0.5) -> bool:
    """Whether an Ollama server answers at ``host`` (GET /api/version)."""
    try:
        async with httpx.AsyncClient(timeout=timeout_s) as client:
            response = await client.get(normalized_host(host) + "/api/version")
            return response.status_code == 200 and "version" in response.json()
    except (httpx.HTTPError, ValueError):
        return False


class OllamaBackend(HttpStreamingBackend):
    name = "ollama"

    def __init__(self, host: str, model: str, **kw: object) -> None:
        super().__init__(normalized_host(host), **kw)  # type: ignore[arg-type]
        self.model = model

    async def stream(self, request: GenerationRequest, cancel: asyncio.Event) -> AsyncIterator[str]:
        body = {
            "model": request.model or self.model,
            "messages": request.wire_messages(),
            "stream": True,
            "options": {"num_predict": request.max_tokens, "temperature": request.temperature},
        }
        async for line in self.lines("/api/chat", body, cancel):
            try:
                chunk = json.loads(line)
            except ValueError:
                raise BackendError(f"ollama sent a line that is not JSON: {line[:100]!r}") from None
            if not isinstance(chunk, dict):
                raise BackendError("ollama sent a chunk that is not a JSON object")
            if chunk.get("error"):
                raise BackendError(f"ollama: {chunk['error']}")
            content = (chunk.get("message") or {}).get("content") or ""
            if content:
                yield content
            if chunk.get("done"):
                return
        if not cancel.is_set():
            raise BackendError("ollama closed the stream before it was done")
