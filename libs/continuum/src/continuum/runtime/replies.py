"""How a command's request is read and its reply written.

Replies follow the NATS service API: JSON on success, an empty body with
``Nats-Service-Error`` and ``Nats-Service-Error-Code`` headers on a refusal,
which every caller reads the same way (``continuum.runtime.requests``).
A request that cannot be taken (not JSON under the input policy, not an
object, refused by its model) gets a 400 naming the problem, never silence:
a caller left waiting sees only a timeout.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from faststream.middlewares import ExceptionMiddleware
from faststream.nats import NatsMessage, NatsResponse
from faststream.nats.message import NatsMessage as Message
from pydantic import BaseModel, ValidationError

from continuum import jsoninput
from continuum.events.envelope import describe_validation_error


@dataclass(frozen=True)
class Undecodable:
    """A body that is not JSON under the input policy; the reason says why."""

    reason: str


async def decode_request(msg: Message) -> Any:
    """The body under ``jsoninput``'s policy (an empty body is ``{}``). Never
    raises: FastStream answers nothing when decoding fails, so an
    ``Undecodable`` goes on to validation, whose refusal carries the reason.

    A coroutine on purpose: FastStream runs a plain function decoder in a
    worker thread, which cost ~150 us per message (measured, ADR 0016)."""
    try:
        return jsoninput.loads(msg.body or b"{}", what="the request")
    except jsoninput.UnsafeJson as exc:
        return Undecodable(str(exc))


F = TypeVar("F", bound=Callable[..., Any])


def taking(payload: Any, handler: F) -> F:
    """``handler`` as FastStream should see it: its ``body`` parameter typed
    ``payload`` (a model known only at run time), so FastStream validates the
    body against it and the AsyncAPI document describes it."""
    handler.__annotations__["body"] = payload
    return handler


async def raw_body(msg: Message) -> bytes:
    """No decoding: for handlers that read the raw message (events, which the
    codec decodes and verifies itself). FastStream's default decoder would
    parse every event's JSON once more for nothing."""
    return msg.body


def encode_reply(reply: Any) -> bytes:
    if isinstance(reply, BaseModel):
        return reply.model_dump_json().encode()
    return json.dumps(reply, default=str).encode()


def error_reply(message: str, code: int) -> NatsResponse:
    """An error answer as the NATS service API writes one (``request_json``
    raises it as a ``ServiceRequestError`` with this code)."""
    return NatsResponse(
        b"", headers={"Nats-Service-Error": message, "Nats-Service-Error-Code": str(code)}
    )


async def refusal(exc: ValidationError, message: NatsMessage) -> NatsResponse:
    """The reply to a body its command refused before the handler ran."""
    body = await message.decode()
    if isinstance(body, Undecodable):
        return error_reply(body.reason, 400)
    if not isinstance(body, dict):
        return error_reply("request body must be a JSON object", 400)
    return error_reply(describe_validation_error(exc, "the request"), 400)


def reply_errors() -> ExceptionMiddleware:
    """The broker middleware that answers refused requests (``refusal``)."""
    return ExceptionMiddleware(publish_handlers={ValidationError: refusal})
