"""The CLI as a client of the node's HTTP gateway (rooms, personas).

The gateway is found at CONTINUUM_GATEWAY_URL, else where the running node
says it is; the token is CONTINUUM_TOKEN, else the node's admin token in
its home. So the same commands work against this laptop's node or, with
those two variables, any other node.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import httpx

from continuum.api_tokens import ADMIN_TOKEN_FILE
from continuum.cli.common import CliError, failed, settings
from continuum.node.state import NodeNotRunning, running_state


def _endpoint() -> tuple[str, str]:
    s = settings()
    url = os.environ.get("CONTINUUM_GATEWAY_URL", "")
    if not url:
        state = running_state(s.home)
        if state is None:
            raise NodeNotRunning(
                f"no Continuum node is running with home {s.home}: start one with "
                "`continuum up` (or set CONTINUUM_GATEWAY_URL and CONTINUUM_TOKEN)"
            )
        url = state.urls.get("gateway", "")
        if not url:
            raise CliError("the running node has no gateway; is continuum-gateway installed?")
    token = os.environ.get("CONTINUUM_TOKEN", "")
    if not token:
        try:
            token = (s.home / ADMIN_TOKEN_FILE).read_text().strip()
        except OSError:
            raise CliError(
                f"no API token: set CONTINUUM_TOKEN or create {s.home / ADMIN_TOKEN_FILE}"
            ) from None
    return url.rstrip("/"), token


def client(timeout: float = 30.0) -> httpx.Client:
    url, token = _endpoint()
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout)


def check(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:300]
        raise failed(message, response.status_code)
    return response.json()


def request(method: str, path: str, **kw: Any) -> Any:
    try:
        with client() as http:
            return check(http.request(method, path, **kw))
    except httpx.HTTPError as exc:
        raise CliError(f"cannot reach the gateway: {exc}") from None


def sse(http: httpx.Client, path: str) -> Iterator[dict[str, Any]]:
    """The ``data:`` items of a Server-Sent Events stream."""
    with http.stream("GET", path, timeout=httpx.Timeout(30.0, read=None)) as response:
        if response.status_code >= 400:
            response.read()
            check(response)
        for line in response.iter_lines():
            if line.startswith("data: "):
                yield json.loads(line[6:])
