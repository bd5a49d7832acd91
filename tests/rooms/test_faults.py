"""Processes dying under a room: the room must never hang, nothing is lost."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator

import httpx
import pytest
from rooms_harness import (
    RoomNode,
    events_of,
    following,
    make_remote_persona,
    make_room,
    post,
    replies,
    wait_for,
)

from continuum_persona.testing.wire import Script, WireServer

pytestmark = pytest.mark.slow


@pytest.fixture
async def api(room_node: RoomNode) -> AsyncIterator[httpx.AsyncClient]:
    async with room_node.client() as client:
        yield client


async def test_a_persona_process_killed_mid_generation_does_not_hang_the_room(
    room_node: RoomNode, api: httpx.AsyncClient
) -> None:
    wire = await WireServer("openai").start()
    wire.script = Script(pieces=[f"w{i} " for i in range(400)], delay_s=0.05)
    try:
        slow = await make_remote_persona(api, "Doomed", wire.url)
        await make_room(api, "kill-room", [slow, "helper-ai"], stall_s=1.5, min_confidence=0.0)
        async with following(api, "/v1/rooms/kill-room/stream") as live:
            first = await post(api, "kill-room", f"@{slow} tell me everything")
            await wait_for(lambda: _has_delta(live, slow))
            os.kill(room_node.processes["persona-runtime"].pid, signal.SIGKILL)
            room_node.processes["persona-runtime"].wait()
            abandoned = await wait_for(lambda: _ended(live, slow), timeout=30)
            assert abandoned["outcome"] == "abandoned"
            assert "streamed nothing for 1.5 s" in abandoned["reason"]

            await room_node.restart("persona-runtime", "continuum_persona")
            second = await post(api, "kill-room", "@Helper are you back?")
            answers = await wait_for(lambda: replies(api, "kill-room", second), timeout=60)
            assert answers[0]["author_id"] == "helper-ai"
        assert await replies(api, "kill-room", first) == []  # the dead turn left no message
    finally:
        await wire.stop()


async def _has_delta(items: list[dict[str, object]], persona: str) -> bool:
    return any(i.get("kind") == "delta" and i.get("persona_id") == persona for i in items)


async def _ended(items: list[dict[str, object]], persona: str) -> dict[str, object] | None:
    return next((e for e in events_of(items, "ended") if e["persona_id"] == persona), None)  # type: ignore[arg-type]


async def test_a_message_sent_while_the_scheduler_is_down_is_answered_after_restart(
    room_node: RoomNode, api: httpx.AsyncClient
) -> None:
    await wait_for(lambda: _members(api, "lobby"))
    os.kill(room_node.processes["scheduler"].pid, signal.SIGKILL)
    room_node.processes["scheduler"].wait()
    message_id = await post(api, "lobby", "How do I fix this Python KeyError?")
    await room_node.restart("scheduler", "continuum_scheduler")
    answers = await wait_for(lambda: replies(api, "lobby", message_id), timeout=60)
    assert len(answers) == 1 and answers[0]["author_id"] in {"debugger-ai", "codereview-ai"}


async def _members(api: httpx.AsyncClient, room: str) -> bool:
    response = await api.get(f"/v1/rooms/{room}")
    return response.status_code == 200 and len(response.json()["members"]) >= 5
