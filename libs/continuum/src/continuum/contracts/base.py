"""What a command is: a subject, what it takes and what it answers.

A service binds a handler to each of its commands
(``ServiceContext.command``); FastStream validates the request against the
command's model before the handler runs, and the AsyncAPI document
describes the command from the same classes. A command's models live
here, in the shared library, so the document (served by the gateway) can
describe every service's commands without importing any service.

Requests allow fields the model does not name (``extra="allow"``): they
pass through to the handler, which may know more than the door does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field


class Request(BaseModel):
    """Base of command requests."""

    model_config = ConfigDict(extra="allow")


class Reply(BaseModel):
    """Base of command replies: the fields every caller may rely on (a reply
    may carry more)."""

    model_config = ConfigDict(extra="allow")


class Empty(Request):
    """No fields."""


class Anything(Reply):
    """A JSON object (see the command's description)."""


Text = Annotated[str, Field(min_length=1, max_length=256)]
Layers = Annotated[list[str], Field(max_length=32, description="LAYER[@VERSION][:WEIGHT] specs")]


@dataclass(frozen=True)
class Command:
    """``cmd.<service>.<op>``: request/reply, answered by one instance of the
    service (its queue group)."""

    service: str
    op: str
    summary: str
    request: type[BaseModel] = Empty
    reply: type[BaseModel] = Anything

    @property
    def subject(self) -> str:
        return f"cmd.{self.service}.{self.op}"

    @property
    def name(self) -> str:
        return f"{self.service}-{self.op}".replace(".", "-")

    def describe(self) -> dict[str, Any]:
        return {"subject": self.subject, "summary": self.summary}


def integer(name: str, low: int, high: int, description: str = "") -> Any:
    """An integer field refused in the words the services use ("k must be an
    integer from 1 to 100"), with its bounds in the schema."""

    def check(value: Any) -> Any:
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ValueError(f"{name} must be an integer from {low} to {high}")
        return value

    return Annotated[
        int, Field(ge=low, le=high, description=description or None), BeforeValidator(check)
    ]
