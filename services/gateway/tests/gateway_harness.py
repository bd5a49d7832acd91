"""What the gateway tests share besides fixtures (importable by test modules)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

RATE_LIMIT = 50  # requests/s per token in the shared gateway; burst twice that
#: The test node's JetStream dedupe window (s): short, so tests re-send ids past it.
DEDUPE_WINDOW_S = 2.0


@dataclass
class GatewayNode:
    """A gateway process with its own NATS and database, shared by a module."""

    url: str
    admin_token: str
    nats_url: str
    log: Path
    database_url: str = ""

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token or self.admin_token}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=15)
