"""Request/reply commands (``cmd.<service>.<op>``) as FastStream subscribers.

Each command is a core NATS subscriber in the service's queue group (one
instance answers), typed by what it takes: a pydantic model, or a JSON
object for handlers that check their fields themselves. FastStream decodes
and validates the body; the reply is JSON, and a refusal is an error reply
in the NATS service API's headers (``Nats-Service-Error``,
``Nats-Service-Error-Code``), which every caller reads the same way
(``continuum.runtime.requests``).

The instance keeps the API's per-endpoint statistics, which
``continuum.runtime.micro`` serves on ``$SRV.STATS``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from faststream.nats import NatsBroker, NatsResponse
from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from continuum import telemetry
from continuum.contracts import Command
from continuum.events.errors import EventError
from continuum.runtime.replies import decode_request, encode_reply, error_reply, taking

log = logging.getLogger("continuum.commands")

JsonHandler = Callable[[dict[str, Any]], Awaitable[Any]]
Request = TypeVar("Request", bound=BaseModel)


class RequestError(Exception):
    """Raised by a handler to answer a request with a client error (code 400/404/409)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


def parse_request(model: type[Request], body: dict[str, Any], what: str = "request") -> Request:
    """A command's body as its contract model, or a 422 naming the bad field."""
    from pydantic import ValidationError

    from continuum.events.envelope import describe_validation_error

    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise RequestError(f"invalid {what}: {describe_validation_error(exc)}", 422) from None


@dataclass
class EndpointStats:
    """One endpoint as ``$SRV.INFO`` and ``$SRV.STATS`` describe it."""

    name: str
    subject: str
    queue_group: str
    summary: str = ""
    num_requests: int = 0
    num_errors: int = 0
    last_error: str = ""
    processing_ns: int = 0
    metadata: dict[str, str] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "queue_group": self.queue_group,
            "metadata": self.metadata or None,
        }

    def stats(self) -> dict[str, Any]:
        average = self.processing_ns // self.num_requests if self.num_requests else 0
        return {
            **self.info(),
            "num_requests": self.num_requests,
            "num_errors": self.num_errors,
            "last_error": self.last_error,
            "processing_time": self.processing_ns,
            "average_processing_time": average,
        }


def as_object(handler: JsonHandler) -> Callable[[BaseModel], Awaitable[Any]]:
    """Adapt a handler that reads a JSON object to a validated request model:
    it gets the fields the caller sent (extra ones included), typed by the
    model."""

    async def handle(request: BaseModel) -> Any:
        body = request.model_dump(exclude_unset=True)
        return await handler(body)

    return handle


class Commands:
    """The commands one service instance answers, on its broker."""

    def __init__(self, broker: NatsBroker, queue: str) -> None:
        self.broker = broker
        self.queue = queue
        self.endpoints: dict[str, EndpointStats] = {}

    async def add(
        self,
        name: str,
        subject: str,
        handler: Callable[[Any], Awaitable[Any]],
        *,
        request: type[BaseModel] | None = None,
        summary: str = "",
    ) -> None:
        """Answer ``subject`` with ``handler``: it takes the ``request`` model
        (or a JSON object without one) and returns a model or JSON-able value,
        or raises ``RequestError`` (or ``EventError``/``ValueError``/``KeyError``,
        answered as 400) to refuse."""
        stats = self.endpoints[subject] = EndpointStats(name, subject, self.queue, summary)
        call = self._call(subject, handler, stats)

        async def endpoint(body: Any) -> NatsResponse:
            return await call(body)

        taking(request or dict[str, Any], endpoint)
        endpoint.__doc__ = summary or None
        subscriber = self.broker.subscriber(
            subject, queue=self.queue, decoder=decode_request, title=subject, description=summary
        )
        subscriber(endpoint)
        if self.broker.running:
            await subscriber.start()

    async def serve(self, command: Command, handler: Callable[[Any], Awaitable[Any]]) -> None:
        """Answer ``command`` with ``handler``, which takes its request model
        (validated by FastStream before the handler runs)."""
        await self.add(
            command.name, command.subject, handler, request=command.request, summary=command.summary
        )

    def _call(
        self, subject: str, handler: Callable[[Any], Awaitable[Any]], stats: EndpointStats
    ) -> Callable[[Any], Awaitable[NatsResponse]]:
        async def call(body: Any) -> NatsResponse:
            started = time.perf_counter_ns()
            stats.num_requests += 1
            try:
                with telemetry.tracer().start_as_current_span(subject, kind=SpanKind.SERVER):
                    reply = await handler(body)
            except RequestError as exc:
                return self._failed(stats, str(exc), exc.code)
            except (EventError, ValueError, KeyError) as exc:
                return self._failed(stats, str(exc).strip("'\""), 400)
            except Exception:
                log.exception("handler for %s failed", subject)
                return self._failed(stats, "internal error (see the service log)", 500)
            finally:
                stats.processing_ns += time.perf_counter_ns() - started
            return NatsResponse(encode_reply(reply))

        return call

    @staticmethod
    def _failed(stats: EndpointStats, message: str, code: int) -> NatsResponse:
        stats.num_errors += 1
        stats.last_error = f"{code}:{message}"
        return error_reply(message, code)
