"""The NATS service API (``$SRV.PING``, ``$SRV.INFO``, ``$SRV.STATS``) on FastStream.

``nats micro``, ``GET /v1/services`` and ``continuum status`` discover the
running instances by asking ``$SRV.<VERB>`` (all services),
``$SRV.<VERB>.<name>`` or ``$SRV.<VERB>.<name>.<id>``; every instance
answers (no queue group) with the documents of the API's v1 schema. One
subscriber on ``$SRV.>`` does it, from the command statistics
``continuum.runtime.commands`` keeps.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage

from continuum.runtime.commands import Commands
from continuum.runtime.replies import encode_reply


@dataclass
class ServiceInfo:
    name: str
    version: str
    description: str
    metadata: dict[str, str]
    id: str = field(default_factory=lambda: secrets.token_hex(11).upper())
    started: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat().replace("+00:00", "Z")
    )

    def base(self, kind: str) -> dict[str, Any]:
        return {
            "type": f"io.nats.micro.v1.{kind}_response",
            "name": self.name,
            "id": self.id,
            "version": self.version,
            "metadata": self.metadata,
        }


class ServiceApi:
    """Answers the service API for one instance and its ``commands``."""

    def __init__(self, info: ServiceInfo, commands: Commands) -> None:
        self.info = info
        self.commands = commands

    def answer(self, subject: str) -> dict[str, Any] | None:
        """The reply to ``subject`` (``$SRV.<VERB>[.<name>[.<id>]]``), or None
        when it is addressed to another service or instance."""
        verb, *target = subject.split(".")[1:]
        if target[:1] not in ([], [self.info.name]) or target[1:2] not in ([], [self.info.id]):
            return None
        endpoints = self.commands.endpoints.values()
        if verb == "PING":
            return self.info.base("ping")
        if verb == "INFO":
            return {
                **self.info.base("info"),
                "description": self.info.description,
                "endpoints": [e.info() for e in endpoints],
            }
        if verb == "STATS":
            return {
                **self.info.base("stats"),
                "started": self.info.started,
                "endpoints": [e.stats() for e in endpoints],
            }
        return None

    async def start(self, broker: NatsBroker) -> None:
        # Answered by hand (no_reply): a request addressed to another service
        # or instance gets no answer at all, not an empty one.
        subscriber = broker.subscriber("$SRV.>", include_in_schema=False, no_reply=True)

        @subscriber
        async def service_api(msg: NatsMessage) -> None:
            reply = self.answer(msg.raw_message.subject)
            if reply is not None and msg.reply_to:
                await broker.publish(encode_reply(reply), msg.reply_to)

        if broker.running:
            await subscriber.start()
