"""What a projection is: a named read model fed by a set of event subjects.

A projection owns tables in its service's Postgres schema. The runner calls
``apply_batch`` inside a transaction that also advances the projection's
checkpoint, so a handler must only touch Postgres through the connection it
is given (never commit, never do other I/O) for the effect to be
exactly-once.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import asyncpg

from continuum.store.base import StoredEvent

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,47}$")
_SCHEMA = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


@dataclass(frozen=True)
class Subscription:
    """Events of one stream a projection reads, by subject filter."""

    stream: str
    subjects: tuple[str, ...]


class Projection(ABC):
    #: Unique name across the node, used by `continuum events replay NAME`.
    name: ClassVar[str]
    #: The Postgres schema holding the read model (the owning service's schema).
    schema: ClassVar[str]
    subscriptions: ClassVar[Sequence[Subscription]]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if getattr(cls, "__abstractmethods__", None):
            return
        if not _NAME.match(getattr(cls, "name", "")):
            raise TypeError(f"{cls.__name__}.name must match {_NAME.pattern}")
        if not _SCHEMA.match(getattr(cls, "schema", "")):
            raise TypeError(f"{cls.__name__}.schema must match {_SCHEMA.pattern}")

    @property
    def consumer_name(self) -> str:
        return "proj_" + self.name.replace("-", "_")

    @abstractmethod
    async def setup(self, conn: asyncpg.Connection) -> None:
        """Create the read-model tables if missing (idempotent)."""

    @abstractmethod
    async def reset(self, conn: asyncpg.Connection) -> None:
        """Remove every row of the read model (for a rebuild)."""

    @abstractmethod
    async def apply(self, conn: asyncpg.Connection, event: StoredEvent) -> None:
        """Apply one event. Raise to reject it (it will be retried, then dead-lettered)."""

    async def apply_batch(self, conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        """Apply events in order; override with set-based SQL for throughput."""
        for event in events:
            await self.apply(conn, event)
