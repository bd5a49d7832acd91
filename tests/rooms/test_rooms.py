"""Personas in rooms, end to end: gateway, scheduler and persona-runtime as
real processes, real NATS and Postgres, the built-in model (tiny preset)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from rooms_harness import RoomNode, following

SEEDED = {"helper-ai", "teacher-ai", "codereview-ai", "architect-ai", "debugger-ai"}


async def wait_for(predicate: Any, timeout: float = 60, every: float = 0.1) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(every)


async def answers_to(api: httpx.AsyncClient, room: str, message_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/rooms/{room}/messages", params={"limit": 500})
    return [m for m in response.json()["messages"] if m["reply_to"] == message_id]


async def post(api: httpx.AsyncClient, room: str, text: str) -> str:
    response = await api.post(f"/v1/rooms/{room}/messages", json={"text": text, "author": "Ada"})
    assert response.status_code == 201, response.text
    return str(response.json()["message_id"])


async def test_seeded_personas_sit_in_the_lobby(room_node: RoomNode) -> None:
    async with room_node.client() as api:
        personas = (await api.get("/v1/personas")).json()["personas"]
        assert {p["id"] for p in personas} >= SEEDED
        assert len({p["public_key"] for p in personas}) == len(personas)
        assert len({tuple(p["domains"]) for p in personas}) == len(personas)
        room = await wait_for(lambda: _room(api, "lobby"))
        members = {m["member_id"] for m in room["members"]}
        assert members >= SEEDED


async def _room(api: httpx.AsyncClient, room: str) -> dict[str, Any] | None:
    response = await api.get(f"/v1/rooms/{room}")
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body if len(body["members"]) >= 5 else None


async def test_a_coding_question_gets_one_streamed_answer_from_the_right_persona(
    room_node: RoomNode,
) -> None:
    async with room_node.client() as api:
        await wait_for(lambda: _room(api, "lobby"))
        async with following(api, "/v1/rooms/lobby/stream") as live:
            message_id = await post(api, "lobby", "How do I fix this Python KeyError?")
            answers = await wait_for(lambda: answers_to(api, "lobby", message_id))
            await asyncio.sleep(1.5)  # room for a second answer, which must not come
        answers = await answers_to(api, "lobby", message_id)
        assert len(answers) == 1, answers
        answer = answers[0]
        assert answer["author_id"] in {"debugger-ai", "codereview-ai"}
        assert answer["status"] == "complete" and answer["text"]
        deltas = [
            i for i in live if i["kind"] == "delta" and i["message_id"] == answer["message_id"]
        ]
        assert deltas and "".join(d["text"] for d in deltas).strip() == answer["text"]

        why = (await api.get(f"/v1/messages/{answer['message_id']}/why")).json()
        decision = why["decisions"][0]
        assert decision["winners"] == [answer["author_id"]]
        assert {b["bid"]["persona_id"] for b in decision["bids"]} == SEEDED
        assert all(b["reason"] for b in decision["bids"])
        assert decision["trigger_message_id"] == message_id
