"""A backend that could not be set up: every generation fails with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from continuum_lm.generation import BackendError, GenerationRequest


class UnavailableBackend:
    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    @property
    def context_tokens(self) -> int:
        return 2048

    def count_tokens(self, text: str) -> int:
        return max(1, len(text) // 4)

    async def stream(self, request: GenerationRequest, cancel: asyncio.Event) -> AsyncIterator[str]:
        raise BackendError(self.reason)
        yield ""  # pragma: no cover - makes this an async generator

    async def close(self) -> None:
        return None
