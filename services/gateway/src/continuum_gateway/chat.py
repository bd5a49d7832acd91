"""Chat commands: checks against the room's state, then the events they append.

Shared by the HTTP routes; the domain rules (what a valid message is, who
may join) live here, not in the handlers.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated, Any

import asyncpg
from faststream.nats import NatsBroker
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from continuum import suggest
from continuum.chat import find_mentions
from continuum.events.chat import (
    MAX_MESSAGE_CHARS,
    ROOM_ID_PATTERN,
    MemberJoined,
    MemberLeft,
    MessagePosted,
    RoomClosed,
    RoomCreated,
    RoomPolicy,
    RoomPolicyChanged,
)
from continuum.events.codec import EventFactory
from continuum.runtime.requests import NoService, ServiceRequestError, ask
from continuum.store import ConcurrencyError, JetStreamEventStore
from continuum_gateway import chat_model


class ChatError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


MEMBER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$"
#: A persona by id or by name ("Teacher AI").
PERSONA_REF_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_. @-]{0,127}$"


class CreateRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=ROOM_ID_PATTERN)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    topic: str = Field(default="", max_length=1000)
    policy: RoomPolicy = Field(default_factory=RoomPolicy)
    personas: list[Annotated[str, Field(pattern=PERSONA_REF_PATTERN)]] = Field(
        default_factory=list,
        max_length=32,
        description="Personas (id or name) to seat in the room as it is created: all of them "
        "or, if any is unknown, no room at all.",
    )


class JoinRoom(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: str = Field(pattern=MEMBER_ID_PATTERN)
    kind: str = Field(default="persona", pattern=r"^(human|persona)$")
    name: str | None = Field(default=None, min_length=1, max_length=128)


NOT_BLANK = r"^[^\u0000]*\S[^\u0000]*$"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("the message is empty")
    return text


class PostMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[
        str,
        Field(
            max_length=MAX_MESSAGE_CHARS,
            json_schema_extra={"pattern": NOT_BLANK},
            description="What is said; not empty or only whitespace.",
        ),
        AfterValidator(_not_blank),
    ]
    author: str | None = Field(default=None, min_length=1, max_length=64)
    reply_to: str | None = Field(default=None, max_length=64)


async def unknown_room(pool: asyncpg.Pool, room_id: str) -> str:
    """``unknown room 'lobyy'; did you mean 'lobby'?``"""
    rooms = await chat_model.list_rooms(pool)
    return suggest.unknown("room", room_id, [r["room_id"] for r in rooms])


def human_id(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.@-]+", "-", name).strip("-")[:100] or "someone"
    return f"human-{slug}"


async def service_request(
    broker: NatsBroker, subject: str, body: dict[str, Any], timeout: float = 10
) -> dict[str, Any]:
    """A request to another service, its errors as ChatError with the service's status."""
    try:
        return await ask(broker, subject, body, timeout)
    except NoService:
        service = subject.split(".")[1]
        raise ChatError(503, f"the {service} service is not running") from None
    except ServiceRequestError as exc:
        raise ChatError(exc.code if 400 <= exc.code < 600 else 500, exc.message) from None


class Chat:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: JetStreamEventStore,
        factory: EventFactory,
        broker: NatsBroker,
    ) -> None:
        self.pool = pool
        self.store = store
        self.factory = factory
        self.broker = broker

    async def room(self, room_id: str) -> dict[str, Any]:
        """The room's read model, or a 404 naming the rooms there are."""
        return await self._room(room_id)

    async def _room(self, room_id: str) -> dict[str, Any]:
        room = await chat_model.get_room(self.pool, room_id)
        if room is None:
            raise ChatError(404, await unknown_room(self.pool, room_id))
        return room

    async def _until(self, check: Any, timeout: float = 3.0) -> None:
        """Wait for the read model to show what was just appended (read-your-writes)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if await check():
                return
            await asyncio.sleep(0.02)

    async def _persona(self, persona: str) -> MemberJoined:
        found = await service_request(self.broker, "cmd.persona-runtime.show", {"persona": persona})
        return MemberJoined(member_id=found["id"], kind="persona", name=found["name"])

    async def create_room(self, command: CreateRoom, by: str) -> dict[str, Any]:
        """The room and its first personas in one atomic append: every persona
        is looked up first, so an unknown one leaves no room behind."""
        if await chat_model.get_room(self.pool, command.id) is not None:
            raise ChatError(409, f"room {command.id!r} already exists")
        seated = [await self._persona(p) for p in dict.fromkeys(command.personas)]
        created = RoomCreated(
            name=command.name or command.id,
            topic=command.topic,
            policy=command.policy,
            created_by=by,
        )
        events = [self.factory.new(e, command.id) for e in (created, *seated)]
        try:
            await self.store.append(events, 0)
        except ConcurrencyError:
            if await chat_model.get_room(self.pool, command.id) is None:
                raise ChatError(
                    409, f"room id {command.id!r} belonged to a closed room; choose another"
                ) from None
            raise ChatError(409, f"room {command.id!r} already exists") from None

        async def visible() -> bool:
            room = await chat_model.get_room(self.pool, command.id)
            return room is not None and len(room["members"]) >= len(seated)

        await self._until(visible)
        return await self._room(command.id)

    async def set_policy(self, room_id: str, policy: RoomPolicy, by: str) -> dict[str, Any]:
        await self._room(room_id)
        event = RoomPolicyChanged(policy=policy, changed_by=by)
        await self.store.append([self.factory.new(event, room_id)], None)

        async def visible() -> bool:
            room = await chat_model.get_room(self.pool, room_id)
            return room is not None and room["policy"] == policy.model_dump(mode="json")

        await self._until(visible)
        return await self._room(room_id)

    async def join(self, room_id: str, command: JoinRoom, by_name: str) -> dict[str, Any]:
        await self._room(room_id)
        if command.kind == "persona":
            event = await self._persona(command.member_id)
        else:
            name = command.name or by_name
            event = MemberJoined(member_id=command.member_id, kind="human", name=name)
        member_id = event.member_id
        await self.store.append([self.factory.new(event, room_id)], None)

        async def visible() -> bool:
            room = await chat_model.get_room(self.pool, room_id)
            return room is not None and any(m["member_id"] == member_id for m in room["members"])

        await self._until(visible)
        return await self._room(room_id)

    async def leave(self, room_id: str, member_id: str) -> dict[str, Any]:
        room = await self._room(room_id)
        if not any(m["member_id"] == member_id for m in room["members"]):
            raise ChatError(404, f"{member_id!r} is not a member of {room_id!r}")
        await self.store.append([self.factory.new(MemberLeft(member_id=member_id), room_id)], None)
        return {"room_id": room_id, "left": member_id}

    async def close(self, room_id: str, by: str, lobby: str = "lobby") -> dict[str, Any]:
        """Close a room: one event; the read model drops it, the services forget it."""
        await self._room(room_id)
        if room_id == lobby:
            raise ChatError(409, f"the {lobby} is where new personas sit; it cannot be closed")
        await self.store.append([self.factory.new(RoomClosed(closed_by=by), room_id)], None)

        async def gone() -> bool:
            return await chat_model.get_room(self.pool, room_id) is None

        await self._until(gone)
        return {"room_id": room_id, "closed": True}

    async def post(self, room_id: str, command: PostMessage, token_name: str) -> dict[str, Any]:
        text = command.text.strip()
        if not text:
            raise ChatError(422, "the message is empty")
        if len(text) > MAX_MESSAGE_CHARS:
            raise ChatError(
                413, f"the message has {len(text)} characters; the limit is {MAX_MESSAGE_CHARS}"
            )
        room = await self._room(room_id)
        author = command.author or token_name
        members = [(m["member_id"], m["name"]) for m in room["members"]]
        message = MessagePosted(
            message_id=uuid.uuid4().hex,
            author_id=human_id(author),
            author_kind="human",
            author_name=author,
            text=text,
            mentions=find_mentions(text, members),
            reply_to=command.reply_to,
        )
        result = await self.store.append([self.factory.new(message, room_id)], None)
        return {
            "message_id": message.message_id,
            "room_id": room_id,
            "seq": result.version,
            "mentions": message.mentions,
        }
