"""The chat domain's signals: core NATS messages that are never stored.

Events are the record (``continuum.events.chat``); signals are advisory and
current-state only: who is present, a generation's pieces as they come, a
preemption. A lost signal costs a moment (a heartbeat or the log repairs
it), so they are plain publishes. Publisher and subscriber share these
models, and the AsyncAPI document describes them from the same classes.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from continuum.events.envelope import AGGREGATE_ID_PATTERN

Id = Annotated[str, Field(min_length=1, max_length=128)]

PRESENCE_SUBJECT = "presence.personas"
LIVE_SUBJECTS = "live.chat.>"
CONTROL_SUBJECTS = "ctl.chat.>"


def live_subject(room_id: str) -> str:
    return f"live.chat.{room_id}"


def control_subject(room_id: str) -> str:
    return f"ctl.chat.{room_id}"


class Presence(BaseModel):
    """persona-runtime's heartbeat: the personas it hosts (the scheduler
    waits for their bids only while they are present)."""

    model_config = ConfigDict(extra="ignore")

    personas: list[Id] = Field(max_length=10_000)


class LivePiece(BaseModel):
    """A piece of a generation (``delta``) or a sign of life while the model
    thinks (``working``), on ``live.chat.<room>``: the gateway streams them to
    the room's clients, the scheduler takes them as the turn's heartbeat."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["delta", "working"]
    turn_id: Id
    persona_id: Id
    message_id: Id
    seq: int | None = Field(default=None, ge=1)
    text: str | None = Field(default=None, max_length=65_536)
    name: str | None = Field(default=None, max_length=128)


class TurnControl(BaseModel):
    """The scheduler to persona-runtime on ``ctl.chat.<room>``: cancel a turn
    (``cancel`` + ``persona_id``), or call for bids on a message it missed
    while it was down (``call``)."""

    model_config = ConfigDict(extra="ignore")

    cancel: Id | None = None
    persona_id: Id | None = None
    reason: str | None = Field(default=None, max_length=1000)
    call: Id | None = None


def encode(signal: BaseModel) -> bytes:
    """A signal as it goes on the wire: JSON without the fields it leaves unset
    (a ``working`` piece carries no text, a call no reason)."""
    return signal.model_dump_json(exclude_none=True).encode()


def room_of(subject: str) -> str | None:
    """The room id in ``live.chat.<room>`` / ``ctl.chat.<room>``, if valid."""
    parts = subject.split(".", 2)
    if len(parts) != 3 or not AGGREGATE_ID_PATTERN.match(parts[2]):
        return None
    return parts[2]
