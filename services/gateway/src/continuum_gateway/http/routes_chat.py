"""Rooms, members, messages, live room streams, `why`, and personas."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, WebSocket
from fastapi.responses import StreamingResponse

from continuum.chat.signals import live_subject
from continuum.events.chat import ROOM_ID_PATTERN, RoomPolicy
from continuum.store.streaming import (
    BadFilter,
    Follower,
    LiveSignals,
    StreamFilter,
    parse_cursor,
)
from continuum_gateway import chat_model
from continuum_gateway.chat import (
    Chat,
    ChatError,
    CreateRoom,
    JoinRoom,
    PostMessage,
    service_request,
    unknown_room,
)
from continuum_gateway.http import bodies
from continuum_gateway.http.app import Gateway, gateway_of
from continuum_gateway.http.auth import authorize, require
from continuum_gateway.http.errors import ApiError, error_body
from continuum_gateway.http.live import KEEPALIVE_S, serve_websocket, sse_response
from continuum_gateway.tokens import ApiToken

router = APIRouter()

RoomId = Annotated[str, Path(pattern=ROOM_ID_PATTERN, description="A room id.")]
MessageId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
PersonaKey = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9 _.-]+$")]


def chat_of(request: Request) -> Chat:
    gateway = gateway_of(request)
    assert gateway.chat is not None
    return gateway.chat


async def run_chat(coro: Any) -> Any:
    """A chat call whose refusal becomes the HTTP error it names."""
    try:
        return await coro
    except ChatError as exc:
        raise ApiError(exc.status, exc.message) from None


@router.get("/v1/rooms", summary="List rooms")
async def list_rooms(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    return {"rooms": await chat_model.list_rooms(gateway_of(request).pool)}


@router.post("/v1/rooms", status_code=201, summary="Create a room")
async def create_room(
    request: Request,
    command: Annotated[CreateRoom, Body()],
    token: Annotated[ApiToken, Depends(require("publish"))],
) -> dict[str, Any]:
    result: dict[str, Any] = await run_chat(chat_of(request).create_room(command, token.name))
    return result


@router.get("/v1/rooms/{room_id}", summary="A room, its policy and members")
async def get_room(
    request: Request, room_id: RoomId, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    room = await chat_model.get_room(gateway_of(request).pool, room_id)
    if room is None:
        raise ApiError(404, await unknown_room(gateway_of(request).pool, room_id))
    return room


@router.delete(
    "/v1/rooms/{room_id}",
    summary="Close a room (admin): gone from the list, closed to posts; its log stays",
)
async def close_room(
    request: Request,
    room_id: RoomId,
    token: Annotated[ApiToken, Depends(require("admin"))],
) -> dict[str, Any]:
    result: dict[str, Any] = await run_chat(chat_of(request).close(room_id, token.name))
    return result


@router.put("/v1/rooms/{room_id}/policy", summary="Replace a room's ThoughtStream policy")
async def set_policy(
    request: Request,
    room_id: RoomId,
    policy: Annotated[RoomPolicy, Body()],
    token: Annotated[ApiToken, Depends(require("publish"))],
) -> dict[str, Any]:
    result: dict[str, Any] = await run_chat(
        chat_of(request).set_policy(room_id, policy, token.name)
    )
    return result


@router.post("/v1/rooms/{room_id}/members", summary="Join a room (a persona or a human)")
async def join_room(
    request: Request,
    room_id: RoomId,
    command: Annotated[JoinRoom, Body()],
    token: Annotated[ApiToken, Depends(require("publish"))],
) -> dict[str, Any]:
    result: dict[str, Any] = await run_chat(chat_of(request).join(room_id, command, token.name))
    return result


@router.delete("/v1/rooms/{room_id}/members/{member_id}", summary="Leave a room")
async def leave_room(
    request: Request,
    room_id: RoomId,
    member_id: Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")],
    _: Annotated[ApiToken, Depends(require("publish"))],
) -> dict[str, Any]:
    result: dict[str, Any] = await run_chat(chat_of(request).leave(room_id, member_id))
    return result


@router.post("/v1/rooms/{room_id}/messages", status_code=201, summary="Say something in a room")
async def post_message(
    request: Request,
    room_id: RoomId,
    command: Annotated[PostMessage, Body()],
    token: Annotated[ApiToken, Depends(require("publish"))],
) -> dict[str, Any]:
    result: dict[str, Any] = await run_chat(chat_of(request).post(room_id, command, token.name))
    return result


@router.get("/v1/rooms/{room_id}/messages", summary="A room's messages, oldest first")
async def list_messages(
    request: Request,
    room_id: RoomId,
    _: Annotated[ApiToken, Depends(require("read"))],
    after: Annotated[
        int, Query(ge=0, le=2**63 - 1, description="Only messages after this sequence.")
    ] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    pool = gateway_of(request).pool
    if await chat_model.get_room(pool, room_id) is None:
        raise ApiError(404, await unknown_room(pool, room_id))
    return {"messages": await chat_model.list_messages(pool, room_id, after, limit)}


@router.get(
    "/v1/messages/{message_id}/why", summary="Why a persona spoke: every bid and the reasons"
)
async def why(
    request: Request, message_id: MessageId, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    answer = await chat_model.why(gateway_of(request).pool, message_id)
    if answer is None:
        raise ApiError(404, f"unknown message {message_id!r}")
    return answer


# -- live room streams -----------------------------------------------------------


class RoomStream:
    """A room's events (messages, members, turn decisions) from the log, merged
    with its live generation pieces (``live.chat.<room>``, never stored).

    Both sources feed one queue as they arrive (a pump task moves the log's
    events), so a piece is never held back waiting for the log, or the
    reverse."""

    def __init__(self, gateway: Gateway, room_id: str, last_event_id: str | None) -> None:
        wanted = StreamFilter.parse([], "chat", room_id)
        try:
            cursor = parse_cursor(last_event_id, wanted.streams)
        except BadFilter as exc:
            raise ApiError(400, str(exc)) from None
        self.follower = Follower(gateway.nc, gateway.codec, wanted, cursor)
        # Pieces go straight into the same queue as the log's events.
        self.live = LiveSignals(gateway.nc, live_subject(room_id))
        self.items = self.live.items
        self.room_id = room_id
        self.pump: asyncio.Task[None] | None = None

    async def open(self) -> None:
        await self.live.open()
        try:
            await self.follower.open()
        except Exception as exc:
            await self.close()
            raise ApiError(503, f"cannot follow the room: {exc}") from None
        self.pump = asyncio.create_task(self._pump())

    async def _pump(self) -> None:
        while True:
            item = await self.follower.next(KEEPALIVE_S)
            if item is not None:
                await self.items.put(
                    {
                        "kind": "event",
                        "id": item.cursor,
                        "event": item.event,
                        "trace_id": item.trace_id,
                    }
                )

    async def close(self) -> None:
        if self.pump is not None:
            self.pump.cancel()
        await self.live.close()
        await self.follower.close()

    async def next(self, timeout: float) -> dict[str, Any] | None:
        try:
            return await asyncio.wait_for(self.items.get(), timeout)
        except TimeoutError:
            return None


async def _room_or_404(gateway: Gateway, room_id: str) -> None:
    if await chat_model.get_room(gateway.pool, room_id) is None:
        raise ApiError(404, await unknown_room(gateway.pool, room_id))


@router.get(
    "/v1/rooms/{room_id}/stream",
    summary="Follow a room live: messages, token pieces, turn decisions (SSE; WebSocket too)",
    response_class=StreamingResponse,
)
async def stream_room(
    request: Request,
    room_id: RoomId,
    _: Annotated[ApiToken, Depends(require("read", query_token=True))],
    last_event_id: Annotated[
        str | None,
        Query(
            max_length=64,
            pattern=r"^(EVT_CHAT:)?\d{1,19}$",
            description="Resume after this event (its SSE id); the Last-Event-ID header "
            "works too. Token pieces are live only and are not replayed.",
        ),
    ] = None,
) -> StreamingResponse:
    gateway = gateway_of(request)
    await _room_or_404(gateway, room_id)
    stream = RoomStream(gateway, room_id, request.headers.get("last-event-id") or last_event_id)
    await stream.open()

    # Events carry their cursor as the SSE id, so a reconnecting client
    # resumes after the last one it saw; pieces carry none.
    return sse_response(stream, "following", _room_frame)


def _room_frame(item: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    return (item.get("id") if item.get("kind") == "event" else None), item


@router.websocket("/v1/rooms/{room_id}/stream")
async def stream_room_ws(websocket: WebSocket, room_id: str) -> None:
    gateway = gateway_of(websocket)
    await websocket.accept()
    params = websocket.query_params
    try:
        await authorize(
            gateway, websocket.headers.get("authorization"), params.get("access_token"), "read"
        )
        await _room_or_404(gateway, room_id)
        stream = RoomStream(
            gateway,
            room_id,
            websocket.headers.get("last-event-id") or params.get("last_event_id"),
        )
        await stream.open()
    except ApiError as exc:
        await websocket.send_json(error_body(exc.status, exc.message))
        await websocket.close(code=4000 + exc.status)
        return

    # The first message says the stream is live: a client that posts after it
    # sees its own message (the SSE stream's ": following" comment does the same).
    await serve_websocket(
        websocket, stream, {"kind": "following", "room": room_id}, lambda item: item
    )


# -- personas (served by persona-runtime) ------------------------------------------


async def call_service(
    request: Request, service: str, op: str, body: dict[str, Any], timeout: float = 10
) -> Any:
    """``cmd.<service>.<op>`` for a route: the service's errors become HTTP errors."""
    try:
        return await service_request(
            gateway_of(request).broker, f"cmd.{service}.{op}", body, timeout
        )
    except ChatError as exc:
        raise ApiError(exc.status, exc.message) from None


async def _personas(request: Request, op: str, body: dict[str, Any], timeout: float = 10) -> Any:
    return await call_service(request, "persona-runtime", op, body, timeout)


@router.get("/v1/personas", summary="List personas")
async def list_personas(request: Request, _: Annotated[ApiToken, Depends(require("read"))]) -> Any:
    return await _personas(request, "list", {})


@router.post("/v1/personas", status_code=201, summary="Create a persona")
async def create_persona(
    request: Request,
    body: Annotated[bodies.NewPersona, Body()],
    _: Annotated[ApiToken, Depends(require("admin"))],
) -> Any:
    return await _personas(request, "create", await bodies.sent(request))


@router.get(
    "/v1/persona-profiles",
    summary="The installable persona profiles (a software team's roles), and which are installed",
)
async def persona_profiles(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> Any:
    return await _personas(request, "profiles", {})


@router.post(
    "/v1/persona-profiles/install",
    summary="Install persona profiles (admin); installing one again leaves it as it is",
)
async def install_personas(
    request: Request,
    body: Annotated[bodies.PersonaInstall, Body()],
    _: Annotated[ApiToken, Depends(require("admin"))],
) -> Any:
    return await _personas(request, "install", await bodies.sent(request), timeout=30)


@router.get("/v1/personas/{persona}", summary="A persona")
async def show_persona(
    request: Request, persona: PersonaKey, _: Annotated[ApiToken, Depends(require("read"))]
) -> Any:
    return await _personas(request, "show", {"persona": persona})


@router.delete(
    "/v1/personas/{persona}",
    summary="Retire a persona (admin): it leaves its rooms and stops answering; its log stays",
)
async def retire_persona(
    request: Request, persona: PersonaKey, token: Annotated[ApiToken, Depends(require("admin"))]
) -> Any:
    return await _personas(request, "retire", {"persona": persona, "by": token.name})


@router.patch("/v1/personas/{persona}", summary="Update a persona's profile, backend or genome")
async def update_persona(
    request: Request,
    persona: PersonaKey,
    body: Annotated[bodies.PersonaChanges, Body()],
    _: Annotated[ApiToken, Depends(require("admin"))],
) -> Any:
    return await _personas(request, "update", {**await bodies.sent(request), "persona": persona})
