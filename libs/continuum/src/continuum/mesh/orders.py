"""What travels inside a sealed request: a generation one node asks of another.

One model for both ends: the asking node builds it, the serving node refuses
anything it does not describe (with the field and the reason), after the
envelope's signature, freshness and decryption have been checked.
"""

from __future__ import annotations

import base64
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.events.envelope import describe_validation_error
from continuum.mesh.sealing import Refused
from continuum.mesh.subjects import inbox_prefix


class GenerationOrder(BaseModel):
    """Generate as ``persona``, continuing ``continuation``; stream the
    answer, sealed with ``key``, to ``stream`` (an inbox of the asker)."""

    model_config = ConfigDict(extra="forbid")

    persona: str = Field(min_length=1, max_length=128)
    prompt: str = Field(min_length=1, max_length=8000)
    max_tokens: int | None = Field(default=None, ge=1, le=8192, strict=True)
    continuation: str = Field(default="", max_length=32000)
    stream: str = Field(min_length=1, max_length=256)
    key: str = Field(description="The answer stream's SecretBox key, base64 (32 bytes).")

    @property
    def stream_key(self) -> bytes:
        return base64.b64decode(self.key)

    @classmethod
    def accept(cls, sender: str, payload: dict[str, Any]) -> GenerationOrder:
        """``payload`` as an order from ``sender``, or :class:`Refused` saying why."""
        try:
            order = cls.model_validate(payload)
        except ValidationError as exc:
            raise Refused(f"invalid order: {describe_validation_error(exc, 'order')}") from None
        if not order.stream.startswith(inbox_prefix(sender) + "."):
            raise Refused("stream must be an inbox of the node that asks")
        try:
            key = base64.b64decode(order.key, validate=True)
        except ValueError:
            raise Refused("key must be base64") from None
        if len(key) != 32:
            raise Refused("key must be 32 bytes")
        return order
