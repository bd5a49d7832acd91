"""Events of the chat context: rooms, their members and messages, and the
ThoughtStream's turn log.

Two aggregates per room, two subjects: ``evt.chat.room.<room>`` holds what
people and personas do (the room was created, someone joined, said
something); ``evt.chat.turn.<room>`` holds what the scheduler decided (bids,
grants, preemptions, turn ends). The scheduler is the only writer of the turn
log, so it appends there with optimistic concurrency; the room itself takes
messages from many writers at once, checked against the room's state first.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from continuum.events.catalog import catalog
from continuum.events.numbers import NUMBER

ROOM_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
MEMBER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
MAX_MESSAGE_CHARS = 8000

MemberKind = Literal["human", "persona"]
Policy = Literal["best-bid", "round-robin", "top-k"]
Preemption = Literal["interrupt", "queue", "reject"]
MessageStatus = Literal["complete", "interrupted", "failed", "abandoned"]
TurnOutcome = Literal["complete", "interrupted", "failed", "abandoned", "cancelled"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RoomPolicy(_Payload):
    """How the ThoughtStream arbitrates a room (ADR 0007 documents the score)."""

    policy: Policy = "best-bid"
    #: Speakers per turn under the top-k policy (best-bid and round-robin grant one).
    k: Annotated[int, Field(ge=1, le=16), NUMBER] = 2
    #: How long bids are collected; the window closes early once every present
    #: persona of the room has bid.
    window_ms: Annotated[int, Field(ge=10, le=30_000), NUMBER] = 400
    #: What a human message or a higher-priority @mention does to a generating persona.
    preemption: Preemption = "interrupt"
    #: Bids under this confidence do not compete (a mention always does).
    min_confidence: Annotated[float, Field(ge=0.0, le=1.0), NUMBER] = 0.3
    #: Budgets over a sliding minute; 0 turns the budget off.
    turns_per_minute: Annotated[int, Field(ge=0, le=10_000), NUMBER] = 30
    tokens_per_minute: Annotated[int, Field(ge=0, le=10_000_000), NUMBER] = 20_000
    #: Persona turns in a row without a human message before the loop guard stops the room.
    max_persona_chain: Annotated[int, Field(ge=1, le=100), NUMBER] = 4
    #: Score bonus per turn a persona bid and lost (aging: nobody starves).
    aging: Annotated[float, Field(ge=0.0, le=1.0), NUMBER] = 0.05
    #: Aging is for personas that fit a message about equally: a bid whose
    #: confidence is more than this under the best eligible one neither gains
    #: from its wait nor adds to it (so waiting never hands a question to a
    #: persona that fits it much worse).
    aging_band: Annotated[float, Field(ge=0.0, le=1.0), NUMBER] = 0.15
    #: A generation that streams nothing for this long is abandoned and the
    #: next bidder gets the turn.
    stall_s: Annotated[float, Field(ge=0.5, le=600.0), NUMBER] = 15.0


@catalog.register(context="chat", aggregate="room", name="created")
class RoomCreated(_Payload):
    """A room was opened, with its topic and ThoughtStream policy."""

    name: str = Field(min_length=1, max_length=128)
    topic: str = Field(default="", max_length=1000)
    policy: RoomPolicy = Field(default_factory=RoomPolicy)
    created_by: str = Field(min_length=1, max_length=128)


@catalog.register(context="chat", aggregate="room", name="policy_changed")
class RoomPolicyChanged(_Payload):
    """The room's ThoughtStream policy was replaced."""

    policy: RoomPolicy
    changed_by: str = Field(min_length=1, max_length=128)


@catalog.register(context="chat", aggregate="room", name="closed")
class RoomClosed(_Payload):
    """The room was closed: it is gone from the room list, nobody can post in
    it, and its id is not used again (its history stays in the log)."""

    closed_by: str = Field(min_length=1, max_length=128)


@catalog.register(context="chat", aggregate="room", name="member_joined")
class MemberJoined(_Payload):
    """A human or a persona joined the room."""

    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    kind: MemberKind
    name: str = Field(min_length=1, max_length=128)


@catalog.register(context="chat", aggregate="room", name="member_left")
class MemberLeft(_Payload):
    """A member left the room."""

    member_id: str = Field(pattern=MEMBER_ID_PATTERN)


# Not external: a message names its author and may end a persona's turn, so
# only the gateway (for a token holder, POST /v1/rooms/{id}/messages) and
# persona-runtime state one.
@catalog.register(context="chat", aggregate="room", name="message_posted")
class MessagePosted(_Payload):
    """Someone said something in the room.

    A persona's message names the turn it was granted (``turn_id``); if its
    generation was cut short the status says how, and the text is what had
    been generated by then. ``signature`` is the persona's Ed25519 signature
    over ``room_id, turn_id, text`` (see continuum.chat.signing).
    """

    message_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    author_id: str = Field(pattern=MEMBER_ID_PATTERN)
    author_kind: MemberKind
    author_name: str = Field(min_length=1, max_length=128)
    text: str = Field(max_length=MAX_MESSAGE_CHARS)
    mentions: list[str] = Field(default_factory=list, max_length=32)
    reply_to: str | None = Field(default=None, max_length=64)
    turn_id: str | None = Field(default=None, max_length=64)
    status: MessageStatus = "complete"
    error: str | None = Field(default=None, max_length=500)
    tokens: int = Field(default=0, ge=0)
    signature: str | None = Field(default=None, max_length=128)


class Bid(_Payload):
    """One persona's offer to take a turn (no LLM call went into it)."""

    persona_id: str = Field(pattern=MEMBER_ID_PATTERN)
    name: str = Field(min_length=1, max_length=128)
    priority: int = Field(ge=0, le=255)
    confidence: float = Field(ge=0.0, le=1.0)
    expected_latency_ms: float = Field(default=1000.0, ge=0.0, le=3_600_000.0)
    expected_cost: float = Field(default=0.0, ge=0.0, le=1_000_000.0)
    mentioned: bool = False
    #: How the persona arrived at its confidence (mention, similarity, success).
    rationale: str = Field(default="", max_length=500)


class ScoredBid(_Payload):
    """A bid as the arbiter saw it: its score, its parts, and whether it won."""

    bid: Bid
    score: float
    waited_turns: int = Field(ge=0)
    eligible: bool
    won: bool
    reason: str = Field(max_length=500)


@catalog.register(context="chat", aggregate="turn", name="decided")
class TurnDecided(_Payload):
    """The ThoughtStream arbitrated a moment of the room: every bid, the winners, why."""

    turn_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    trigger_message_id: str = Field(max_length=64)
    policy: Policy
    bids: list[ScoredBid] = Field(max_length=2000)
    winners: list[str] = Field(max_length=16)
    reason: str = Field(max_length=1000)
    #: Present personas that did not bid before the window closed.
    missing: list[str] = Field(default_factory=list, max_length=2000)
    window_ms: float = Field(ge=0)
    arbitration_ms: float = Field(ge=0)
    #: Set when this grant replaces a winner that failed or was abandoned.
    regrant_of: str | None = Field(default=None, max_length=64)


@catalog.register(context="chat", aggregate="turn", name="preempted")
class TurnPreempted(_Payload):
    """A generating persona was interrupted (or its preemption queued or refused)."""

    turn_id: str = Field(max_length=64)
    persona_id: str = Field(pattern=MEMBER_ID_PATTERN)
    by_message_id: str = Field(max_length=64)
    action: Preemption
    reason: str = Field(max_length=500)


@catalog.register(context="chat", aggregate="turn", name="ended")
class TurnEnded(_Payload):
    """A persona's turn is over: it answered, was interrupted, failed or went silent."""

    turn_id: str = Field(max_length=64)
    persona_id: str = Field(pattern=MEMBER_ID_PATTERN)
    outcome: TurnOutcome
    message_id: str | None = Field(default=None, max_length=64)
    tokens: int = Field(default=0, ge=0)
    reason: str = Field(default="", max_length=500)
