"""A room's state, folded from its events."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from pydantic import BaseModel

from continuum.events.chat import (
    MemberJoined,
    MemberKind,
    MemberLeft,
    MessagePosted,
    RoomClosed,
    RoomCreated,
    RoomPolicy,
    RoomPolicyChanged,
)

#: Messages kept per room in memory: enough for any RAG budget, bounded.
HISTORY = 200


@dataclass(frozen=True)
class Member:
    member_id: str
    kind: MemberKind
    name: str


@dataclass(frozen=True)
class HistoryItem:
    message_id: str
    author_id: str
    author_kind: MemberKind
    author_name: str
    text: str
    status: str
    turn_id: str | None
    mentions: tuple[str, ...] = ()


@dataclass
class RoomState:
    room_id: str
    name: str
    topic: str
    policy: RoomPolicy
    members: dict[str, Member] = field(default_factory=dict)
    history: deque[HistoryItem] = field(default_factory=lambda: deque(maxlen=HISTORY))

    @property
    def personas(self) -> list[Member]:
        return [m for m in self.members.values() if m.kind == "persona"]

    def message(self, message_id: str) -> HistoryItem | None:
        """A recent message of the room, by id."""
        return next((m for m in reversed(self.history) if m.message_id == message_id), None)

    def mentions_in(self, text: str) -> list[str]:
        from continuum.chat.mentions import find_mentions

        return find_mentions(text, ((m.member_id, m.name) for m in self.members.values()))


class RoomDirectory:
    """Every room a process has seen, kept current by ``apply``."""

    def __init__(self) -> None:
        self.rooms: dict[str, RoomState] = {}

    def get(self, room_id: str) -> RoomState | None:
        return self.rooms.get(room_id)

    def apply(self, room_id: str, payload: BaseModel) -> RoomState | None:
        """Fold one room event in; returns the room (None for an event of an unknown room)."""
        if isinstance(payload, RoomCreated):
            room = RoomState(room_id, payload.name, payload.topic, payload.policy)
            self.rooms.setdefault(room_id, room)
            return self.rooms[room_id]
        if isinstance(payload, RoomClosed):
            self.rooms.pop(room_id, None)
            return None
        existing = self.rooms.get(room_id)
        if existing is None:
            return None
        room = existing
        if isinstance(payload, RoomPolicyChanged):
            room.policy = payload.policy
        elif isinstance(payload, MemberJoined):
            room.members[payload.member_id] = Member(payload.member_id, payload.kind, payload.name)
        elif isinstance(payload, MemberLeft):
            room.members.pop(payload.member_id, None)
        elif isinstance(payload, MessagePosted):
            room.history.append(
                HistoryItem(
                    payload.message_id,
                    payload.author_id,
                    payload.author_kind,
                    payload.author_name,
                    payload.text,
                    payload.status,
                    payload.turn_id,
                    tuple(payload.mentions),
                )
            )
        return room
