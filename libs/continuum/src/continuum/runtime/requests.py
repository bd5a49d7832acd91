"""Requests to another service's NATS endpoints, answered in JSON.

One place decodes the NATS service API's error headers, so every caller
(the CLI, the gateway, one service asking another) sees the same two
failures: no service answered, or the service answered with an error code.
A service asks through its broker (``ask``), so FastStream's telemetry
carries the trace into the request; the CLI and tests use a raw
connection (``request_json``).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import nats.errors
from faststream.nats import NatsBroker
from nats.aio.client import Client


class ServiceRequestError(Exception):
    """The service answered with an error (``code`` as it gave it, 400/404/409/500...)."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class NoService(ServiceRequestError):
    """Nobody answered: no service listens, or it did not reply in time."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 503)


async def request_json(
    nc: Client,
    subject: str,
    body: dict[str, Any],
    timeout: float = 10.0,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    with _unanswered_is_no_service(subject, timeout):
        msg = await nc.request(subject, json.dumps(body).encode(), timeout=timeout, headers=headers)
    return _answer(msg.headers, msg.data)


async def ask(
    broker: NatsBroker, subject: str, body: dict[str, Any], timeout: float = 10.0
) -> dict[str, Any]:
    """``request_json`` through a service's broker."""
    with _unanswered_is_no_service(subject, timeout):
        reply = await broker.request(json.dumps(body).encode(), subject, timeout=timeout)
    return _answer(reply.headers, reply.body)


@contextlib.contextmanager
def _unanswered_is_no_service(subject: str, timeout: float) -> Iterator[None]:
    """Nobody listening, or nobody answering in time: ``NoService``, in words."""
    try:
        yield
    except nats.errors.NoRespondersError:
        raise NoService(f"no service answers {subject}") from None
    except (nats.errors.TimeoutError, TimeoutError):
        raise NoService(f"{subject} did not answer within {timeout:.0f}s") from None


def _answer(headers: dict[str, str] | None, data: bytes) -> dict[str, Any]:
    reply_headers = headers or {}
    if "Nats-Service-Error" in reply_headers:
        try:
            code = int(reply_headers.get("Nats-Service-Error-Code") or 500)
        except ValueError:
            code = 500
        raise ServiceRequestError(reply_headers["Nats-Service-Error"], code)
    result: dict[str, Any] = json.loads(data)
    return result
