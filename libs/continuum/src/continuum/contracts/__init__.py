"""The contracts between processes that are not events: commands (request/reply
on ``cmd.<service>.<op>``) and their models. Events are in ``continuum.events``;
the chat domain's signals in ``continuum.chat.signals``."""

from continuum.contracts.base import Anything, Command, Empty, Reply, Request
from continuum.contracts.commands import (
    SERVICE_COMMANDS,
    Health,
    Rebuild,
    Rebuilt,
    Redrive,
    Redriven,
    command,
    health,
    projection_commands,
    redrive,
)

__all__ = [
    "SERVICE_COMMANDS",
    "Anything",
    "Command",
    "Empty",
    "Health",
    "Rebuild",
    "Rebuilt",
    "Redrive",
    "Redriven",
    "Reply",
    "Request",
    "command",
    "health",
    "projection_commands",
    "redrive",
]
