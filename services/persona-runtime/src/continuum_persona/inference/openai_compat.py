"""Any OpenAI-compatible server (vLLM, llama.cpp, LM Studio, OpenAI):
``POST /v1/chat/completions`` with ``"stream": true`` answers Server-Sent
Events, ``data: {chunk}`` with ``choices[0].delta.content``, ended by
``data: [DONE]``. vLLM serves LoRA adapters as model names this way."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from continuum_lm.generation import BackendError, GenerationRequest
from continuum_persona.inference.http_streaming import HttpStreamingBackend


class OpenAICompatibleBackend(HttpStreamingBackend):
    name = "openai"

    def __init__(self, url: str, model: str, api_key: str = "", **kw: object) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        base = url.rstrip("/")
        if base.endswith("/v1"):
            base = base[:-3]
        super().__init__(base, headers=headers, **kw)  # type: ignore[arg-type]
        self.model = model

    async def stream(self, request: GenerationRequest, cancel: asyncio.Event) -> AsyncIterator[str]:
        body = {
            "model": request.model or self.model,
            "messages": request.wire_messages(),
            "stream": True,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        async for line in self.lines("/v1/chat/completions", body, cancel):
            if not line.startswith("data:"):
                continue  # SSE comments, event names, ids
            data = line[5:].strip()
            if data == "[DONE]":
                return
            try:
                chunk = json.loads(data)
                if "error" in chunk:
                    raise BackendError(f"openai-compatible server: {chunk['error']}")
                choices = chunk.get("choices") or []
                delta = (choices[0].get("delta") or {}) if choices else {}
            except (ValueError, AttributeError, TypeError, IndexError):
                raise BackendError(f"unreadable chunk from the server: {data[:100]!r}") from None
            content = delta.get("content") or ""
            if content:
                yield content
        if not cancel.is_set():
            raise BackendError("the server closed the stream before [DONE]")
