"""The message layer every service runs on: FastStream's ``NatsBroker``.

One function builds it with the options every Continuum process connects
with (reconnect forever, short pings, the process's own NATS login and
inbox prefix), and two middlewares:

* ``LiveTelemetry``: FastStream's NATS OpenTelemetry middleware (a consumer
  span that continues the trace in the message's ``traceparent``, publish
  spans, and its messaging metrics), installed only when telemetry is
  exported, and skipped for history a follower replays at start (re-reading
  a log of 10,000 events must not emit 10,000 spans into week-old traces).
* ``reply_errors``: an exception middleware that turns a request a handler
  could not take (a body that fails its pydantic model, say) into an error
  reply in the NATS service API's headers, so the caller gets a 400 naming
  the problem instead of waiting for a timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from faststream._internal.middlewares import BaseMiddleware
from faststream.nats import NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.security import SASLPlaintext
from nats.aio.msg import Msg

from continuum import telemetry
from continuum.natsauth import NatsLogin
from continuum.runtime.connections import connection_options
from continuum.runtime.replies import reply_errors

log = logging.getLogger("continuum.broker")

#: Whether a raw message is history being replayed (not traced).
Replaying = Callable[[Msg], bool]


class LiveTelemetry(NatsTelemetryMiddleware):
    """FastStream's NATS telemetry, except for replayed history."""

    def __init__(self, replaying: Replaying) -> None:
        super().__init__()
        self._replaying = replaying

    def __call__(self, msg: Any, /, *, context: Any) -> Any:
        if isinstance(msg, Msg) and self._replaying(msg):
            return BaseMiddleware(msg, context=context)
        return super().__call__(msg, context=context)


def create_broker(
    url: str,
    name: str,
    *,
    login: NatsLogin | None = None,
    replaying: Replaying = lambda _: False,
) -> NatsBroker:
    """A broker for process ``name`` (not connected: ``await broker.start()``)."""
    middlewares: list[Any] = [reply_errors()]
    if telemetry.recording():
        middlewares.insert(0, LiveTelemetry(replaying))

    async def error(exc: Exception) -> None:
        log.warning("NATS error: %s", exc)

    options = connection_options(login)
    user, password = options.pop("user", None), options.pop("password", None)
    security = SASLPlaintext(username=user, password=password) if user else None
    return NatsBroker(
        url,
        security=security,
        name=name,
        error_cb=error,
        middlewares=middlewares,
        # Per-message logs would cost more than most handlers; failures are
        # logged by the handlers with what they were doing.
        logger=logging.getLogger("continuum.faststream"),
        log_level=logging.DEBUG,
        graceful_timeout=5.0,
        connect_timeout=5,
        **options,
    )
