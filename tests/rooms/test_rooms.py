"""Personas in rooms, end to end: gateway, scheduler and persona-runtime as
real processes, real NATS and Postgres, the built-in model (tiny preset), and
in-test servers speaking the OpenAI streaming protocol for remote personas."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import aconnect_ws
from rooms_harness import (
    RoomNode,
    cli,
    events_of,
    following,
    make_remote_persona,
    make_room,
    post,
    replies,
    wait_for,
)

from continuum.chat.signing import verify_message
from continuum_persona.testing.wire import Script, WireServer

SEEDED = {"helper-ai", "teacher-ai", "codereview-ai", "architect-ai", "debugger-ai"}


@pytest.fixture
async def api(room_node: RoomNode) -> AsyncIterator[httpx.AsyncClient]:
    async with room_node.client() as client:
        await wait_for(lambda: _lobby_ready(client))
        yield client


async def _lobby_ready(api: httpx.AsyncClient) -> bool:
    response = await api.get("/v1/rooms/lobby")
    return response.status_code == 200 and len(response.json()["members"]) >= 5


@pytest.fixture
async def wire() -> AsyncIterator[WireServer]:
    server = await WireServer("openai").start()
    yield server
    await server.stop()


async def test_seeded_personas_sit_in_the_lobby(api: httpx.AsyncClient) -> None:
    personas = (await api.get("/v1/personas")).json()["personas"]
    assert {p["id"] for p in personas} >= SEEDED
    assert len({p["public_key"] for p in personas}) == len(personas)
    assert len({tuple(p["domains"]) for p in personas}) == len(personas)
    assert all(p["effective_backend"] == "builtin" for p in personas)
    room = (await api.get("/v1/rooms/lobby")).json()
    assert {m["member_id"] for m in room["members"]} >= SEEDED


async def test_a_coding_question_gets_one_streamed_answer_from_the_right_persona(
    api: httpx.AsyncClient,
) -> None:
    async with following(api, "/v1/rooms/lobby/stream") as live:
        message_id = await post(api, "lobby", "How do I fix this Python KeyError?")
        await wait_for(lambda: replies(api, "lobby", message_id))
        await asyncio.sleep(1.5)  # room for a second answer, which must not come
    answers = await replies(api, "lobby", message_id)
    assert len(answers) == 1, answers
    answer = answers[0]
    assert answer["author_id"] in {"debugger-ai", "codereview-ai"}
    assert answer["status"] == "complete" and answer["text"]
    deltas = [i for i in live if i["kind"] == "delta" and i["message_id"] == answer["message_id"]]
    assert deltas and "".join(d["text"] for d in deltas).strip() == answer["text"]

    persona = (await api.get(f"/v1/personas/{answer['author_id']}")).json()
    assert verify_message(
        persona["public_key"], answer["signature"], "lobby", answer["turn_id"], answer["text"]
    )

    why = (await api.get(f"/v1/messages/{answer['message_id']}/why")).json()
    decision = why["decisions"][0]
    assert decision["winners"] == [answer["author_id"]]
    assert decision["trigger_message_id"] == message_id
    assert {b["bid"]["persona_id"] for b in decision["bids"]} == SEEDED
    assert all(b["reason"] and b["bid"]["rationale"] for b in decision["bids"])
    assert decision["missing"] == []
    assert [e["outcome"] for e in why["turn_events"]] == ["complete"]
    # the human message explains itself the same way
    asked = (await api.get(f"/v1/messages/{message_id}/why")).json()
    assert asked["decisions"] == why["decisions"]


async def test_an_at_mention_forces_that_persona(api: httpx.AsyncClient) -> None:
    message_id = await post(api, "lobby", "@Teacher what does this KeyError mean?")
    answers = await wait_for(lambda: replies(api, "lobby", message_id))
    assert [a["author_id"] for a in answers] == ["teacher-ai"]
    why = (await api.get(f"/v1/messages/{message_id}/why")).json()
    assert why["decisions"][0]["reason"].startswith("mentioned")


@pytest.mark.parametrize("preemption", ["interrupt", "queue", "reject"])
async def test_a_human_message_preempts_a_generating_persona(
    api: httpx.AsyncClient, wire: WireServer, preemption: str
) -> None:
    wire.script = Script(pieces=[f"word{i} " for i in range(60)], delay_s=0.05)
    slow = await make_remote_persona(api, f"Slow {preemption}", wire.url, priority=90)
    room = f"preempt-{preemption}"
    await make_room(api, room, [slow, "helper-ai"], preemption=preemption, min_confidence=0.0)
    async with following(api, f"/v1/rooms/{room}/stream") as live:
        first = await post(api, room, f"@{slow} tell me a long story")
        await wait_for(
            lambda: _any(live, lambda i: i["kind"] == "delta" and i["persona_id"] == slow)
        )
        second = await post(api, room, "Stop! A different question, please.")
        preempted = await wait_for(lambda: _async(events_of(live, "preempted")))
        assert preempted[0]["persona_id"] == slow and preempted[0]["action"] == preemption
        assert preempted[0]["by_message_id"] == second

        story = (await wait_for(lambda: replies(api, room, first)))[0]
        if preemption == "interrupt":
            assert story["status"] == "interrupted"
            assert 0 < len(story["text"].split()) < 60
            decision = await wait_for(lambda: _decision_for(live, second))
            # the interrupted persona bid again, and the whole bid list is there
            assert {b["bid"]["persona_id"] for b in decision["bids"]} == {slow, "helper-ai"}
            assert wire.disconnects >= 1
        elif preemption == "queue":
            assert story["status"] == "complete" and len(story["text"].split()) == 60
            decision = await wait_for(lambda: _decision_for(live, second))
            assert decision["winners"]
        else:
            assert story["status"] == "complete"
            await asyncio.sleep(1.0)
            assert _decision_now(live, second) is None


def _any(items: list[dict[str, Any]], check: Any) -> Any:
    async def probe() -> bool:
        return any(check(i) for i in items)

    return probe()


async def _async(value: Any) -> Any:
    return value


def _decision_now(items: list[dict[str, Any]], trigger: str) -> dict[str, Any] | None:
    return next(
        (d for d in events_of(items, "decided") if d["trigger_message_id"] == trigger), None
    )


async def _decision_for(items: list[dict[str, Any]], trigger: str) -> dict[str, Any] | None:
    return _decision_now(items, trigger)


async def test_a_backend_dying_mid_stream_passes_the_turn_to_the_next_bidder(
    api: httpx.AsyncClient, wire: WireServer, room_node: RoomNode, tmp_path: Path
) -> None:
    wire.script = Script(pieces=["partial ", "answer ", "then ", "gone"], die_after=2)
    flaky = await make_remote_persona(api, "Flaky", wire.url, priority=200)
    await make_room(api, "flaky-room", [flaky, "helper-ai"], min_confidence=0.0)
    message_id = await post(api, "flaky-room", f"@{flaky} say something")
    answers = await wait_for(
        lambda: _at_least(replies(api, "flaky-room", message_id), 2), timeout=60
    )
    failed, rescued = answers
    assert failed["author_id"] == flaky and failed["status"] == "failed"
    assert failed["text"] == "partial answer" and "openai" in failed["error"]
    assert rescued["author_id"] == "helper-ai" and rescued["status"] == "complete"
    why = (await api.get(f"/v1/messages/{rescued['message_id']}/why")).json()
    regrant = why["decisions"][-1]
    assert regrant["regrant_of"] and regrant["winners"] == ["helper-ai"]
    assert "failed" in regrant["reason"]

    # `chat send` shows the failure with its reason, then waits for the rescue.
    wire.script = Script(pieces=["half ", "said ", "then ", "gone"], die_after=2)
    sent = await asyncio.to_thread(
        cli, room_node, tmp_path, "chat", "send", "flaky-room", f"@{flaky} once more"
    )
    assert "(failed: " in sent and "openai" in sent.split("(failed: ")[1]
    assert "Helper AI: " in sent.split("(failed: ")[1]


async def _at_least(coro: Any, n: int) -> Any:
    items = await coro
    return items if len(items) >= n else None


async def test_a_turn_budget_stops_a_runaway_room(api: httpx.AsyncClient) -> None:
    await make_room(api, "budget-room", ["helper-ai"], turns_per_minute=2, min_confidence=0.0)
    reasons = []
    async with following(api, "/v1/rooms/budget-room/stream") as live:
        for i in range(3):
            message_id = await post(api, "budget-room", f"question {i}")
            decision = await wait_for(lambda mid=message_id: _decision_for(live, mid))
            reasons.append((decision["winners"], decision["reason"]))
            if decision["winners"]:
                await wait_for(lambda mid=message_id: replies(api, "budget-room", mid))
    assert [w for w, _ in reasons] == [["helper-ai"], ["helper-ai"], []]
    assert "budget: 2 turns in the last minute" in reasons[2][1]


async def test_a_prompt_too_long_for_the_model_is_trimmed_and_answered(
    api: httpx.AsyncClient,
) -> None:
    await make_room(api, "long-room", ["helper-ai"], min_confidence=0.0)
    message_id = await post(api, "long-room", "please read all this: " + "lorem ipsum " * 600)
    answers = await wait_for(lambda: replies(api, "long-room", message_id))
    assert answers[0]["status"] == "complete"


async def test_bad_input_gets_clear_errors_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    before = (await api.get("/v1/rooms")).json()["rooms"]
    cases: list[tuple[str, str, Any, int, str]] = [
        ("POST", "/v1/rooms/nowhere/messages", {"text": "hi"}, 404, "unknown room 'nowhere'"),
        ("GET", "/v1/rooms/nowhere/messages", None, 404, "unknown room"),
        ("GET", "/v1/rooms/nowhere/stream", None, 404, "unknown room"),
        ("POST", "/v1/rooms/lobby/messages", {"text": "   "}, 422, "the message is empty"),
        ("POST", "/v1/rooms/lobby/messages", {"text": "x" * 8001}, 422, "at most 8000"),
        ("POST", "/v1/rooms/lobby/messages", {"txt": "hi"}, 422, "text"),
        ("POST", "/v1/rooms", {"id": "../etc"}, 422, "id"),
        ("POST", "/v1/rooms", {"id": "lobby"}, 409, "already exists"),
        ("POST", "/v1/rooms", {"id": "r1", "policy": {"policy": "chaos"}}, 422, "policy"),
        (
            "POST",
            "/v1/rooms",
            {"id": "half", "personas": ["helper-ai", "nosuch-ai"]},
            404,
            "unknown persona 'nosuch-ai'",
        ),
        (
            "POST",
            "/v1/rooms/lobby/members",
            {"member_id": "ghost", "kind": "persona"},
            404,
            "unknown persona 'ghost'",
        ),
        ("GET", "/v1/personas/ghost", None, 404, "unknown persona"),
        ("GET", "/v1/personas/tacher-ai", None, 404, "did you mean 'teacher-ai'?"),
        ("POST", "/v1/rooms/lobyy/messages", {"text": "hi"}, 404, "did you mean 'lobby'?"),
        ("POST", "/v1/personas", {"name": "X"}, 422, "role"),
        (
            "POST",
            "/v1/personas",
            {"name": "Helper AI", "role": "again", "domains": ["x"], "rooms": []},
            409,
            "already exists",
        ),
        ("PATCH", "/v1/personas/helper-ai", {"priority": 999}, 422, "priority"),
        ("GET", "/v1/messages/nope/why", None, 404, "unknown message"),
    ]
    for method, path, body, status, words in cases:
        response = await api.request(method, path, json=body)
        assert response.status_code == status, (path, response.text)
        assert words in response.json()["error"]["message"], (path, response.text)
    after = (await api.get("/v1/rooms")).json()["rooms"]
    assert [r["room_id"] for r in after] == [r["room_id"] for r in before]


async def test_a_room_is_created_with_all_its_personas_or_not_at_all(
    api: httpx.AsyncClient, room_node: RoomNode, tmp_path: Path
) -> None:
    created = await api.post(
        "/v1/rooms", json={"id": "seated", "personas": ["Teacher AI", "helper-ai", "helper-ai"]}
    )
    assert created.status_code == 201, created.text
    assert sorted(m["member_id"] for m in created.json()["members"]) == ["helper-ai", "teacher-ai"]
    # The CLI sends the room and its personas as one request: a typo leaves nothing behind.
    failed = cli(room_node, tmp_path, "chat", "create", "qa", "--persona", "nosuch-ai", ok=False)
    assert "unknown persona 'nosuch-ai'" in failed
    assert (await api.get("/v1/rooms/qa")).status_code == 404
    cli(room_node, tmp_path, "chat", "create", "qa", "--persona", "debugger-ai")
    members = (await api.get("/v1/rooms/qa")).json()["members"]
    assert [m["member_id"] for m in members] == ["debugger-ai"]


async def test_a_persona_update_applies_from_its_next_turn(api: httpx.AsyncClient) -> None:
    response = await api.patch("/v1/personas/architect-ai", json={"priority": 200})
    assert response.status_code == 200 and response.json()["priority"] == 200
    assert "warnings" not in response.json()
    # Choosing a backend that does not answer is allowed, and said at once.
    ollama = await api.patch("/v1/personas/architect-ai", json={"backend": {"kind": "ollama"}})
    assert ollama.status_code == 200
    assert "Ollama does not answer" in ollama.json()["warnings"][0]
    paid = {"backend": {"kind": "auto", "cost_per_1k_tokens": 2.0}}
    assert (await api.patch("/v1/personas/architect-ai", json=paid)).status_code == 200
    shown = (await api.get("/v1/personas/Architect AI")).json()
    assert shown["priority"] == 200 and shown["id"] == "architect-ai"
    message_id = await post(api, "lobby", "@Architect how do I shard a database?")
    await wait_for(lambda: replies(api, "lobby", message_id))
    why = (await api.get(f"/v1/messages/{message_id}/why")).json()
    bid = next(b for b in why["decisions"][0]["bids"] if b["bid"]["persona_id"] == "architect-ai")
    assert bid["bid"]["priority"] == 200
    assert bid["bid"]["expected_cost"] == pytest.approx(2.0 * 48 / 1000)  # 48 tokens at most


async def test_a_room_policy_can_be_changed_and_is_applied(api: httpx.AsyncClient) -> None:
    await make_room(api, "policy-room", ["helper-ai", "teacher-ai"], min_confidence=0.0)
    room = (await api.get("/v1/rooms/policy-room")).json()
    policy = {**room["policy"], "policy": "round-robin"}
    changed = await api.put("/v1/rooms/policy-room/policy", json=policy)
    assert changed.status_code == 200 and changed.json()["policy"]["policy"] == "round-robin"
    winners = []
    for i in range(4):
        message_id = await post(api, "policy-room", f"round {i}")
        await wait_for(lambda mid=message_id: replies(api, "policy-room", mid))
        why = (await api.get(f"/v1/messages/{message_id}/why")).json()
        assert why["decisions"][0]["policy"] == "round-robin"
        winners += why["decisions"][0]["winners"]
    assert winners == ["helper-ai", "teacher-ai", "helper-ai", "teacher-ai"]
    bad = await api.put("/v1/rooms/policy-room/policy", json={"window_ms": -1})
    assert bad.status_code == 422 and "window_ms" in bad.json()["error"]["message"]


async def test_outside_tools_cannot_forge_room_messages(api: httpx.AsyncClient) -> None:
    """message_posted is not open to external publishers: a forged persona
    answer could end someone's turn. Tools post through the room endpoint."""
    event = {
        "specversion": "1.0",
        "id": "01a22000-0000-7000-8000-000000000001",
        "source": "/tool",
        "type": "continuum.chat.room.message_posted.v1",
        "subject": "lobby",
        "data": {
            "message_id": "forged",
            "author_id": "debugger-ai",
            "author_kind": "persona",
            "author_name": "Debugger AI",
            "text": "I did not say this",
        },
    }
    response = await api.post(
        "/v1/events", json=event, headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 422
    assert "not open to external publishers" in response.text or "external" in response.text


async def test_a_room_streams_over_websocket_too(
    api: httpx.AsyncClient, room_node: RoomNode
) -> None:
    url = f"{room_node.url.replace('http', 'ws')}/v1/rooms/lobby/stream"
    async with httpx.AsyncClient() as plain:
        async with aconnect_ws(url, plain) as ws:
            refused = json.loads(await ws.receive_text())
            assert refused["error"]["status"] == 401
        async with aconnect_ws(f"{url}?access_token={room_node.admin_token}", plain) as ws:
            # Posting before the stream is live could miss the message itself.
            hello = json.loads(await ws.receive_text(timeout=10))
            assert hello == {"kind": "following", "room": "lobby"}
            message_id = await post(api, "lobby", "@Helper hi over a websocket")
            # The lobby is shared with other tests: a late event of an earlier
            # turn may come first, so only this message's own are kept.
            kinds: list[str] = []
            turn_id = None
            while True:
                item = json.loads(await ws.receive_text(timeout=30))
                kind = item["kind"] if item["kind"] != "event" else item["event"]["type"]
                data = item.get("event", {}).get("data", {})
                if data.get("trigger_message_id") == message_id:
                    turn_id = data.get("turn_id")
                if (
                    message_id in (data.get("message_id"), data.get("trigger_message_id"))
                    or data.get("reply_to") == message_id
                    or (kind == "delta" and turn_id is not None and item.get("turn_id") == turn_id)
                ):
                    kinds.append(kind)
                if data.get("reply_to") == message_id:
                    break
    assert kinds[0] == "continuum.chat.room.message_posted.v1"
    assert "continuum.chat.turn.decided.v1" in kinds and "delta" in kinds
    ghost = f"{room_node.url.replace('http', 'ws')}/v1/rooms/ghost/stream"
    query = f"access_token={room_node.admin_token}"
    async with httpx.AsyncClient() as plain, aconnect_ws(f"{ghost}?{query}", plain) as ws:
        assert json.loads(await ws.receive_text())["error"]["status"] == 404


async def test_two_personas_mentioning_each_other_are_stopped(api: httpx.AsyncClient) -> None:
    """A persona loop, deterministically: each answers only by @mentioning the other."""
    ping_server = await WireServer("openai").start()
    pong_server = await WireServer("openai").start()
    try:
        ping_server.script = Script(pieces=["@pongbot ", "your turn"])
        pong_server.script = Script(pieces=["@pingbot ", "your turn"])
        ping = await make_remote_persona(api, "Pingbot", ping_server.url)
        pong = await make_remote_persona(api, "Pongbot", pong_server.url)
        await make_room(api, "loop-room", [ping, pong])
        async with following(api, "/v1/rooms/loop-room/stream") as live:
            await post(api, "loop-room", "@pingbot start")
            stopped = await wait_for(
                lambda: _async(
                    [d for d in events_of(live, "decided") if d["reason"].startswith("loop")]
                )
            )
            await asyncio.sleep(1.0)  # nothing more may happen
            said = [
                m["author_id"]
                for m in events_of(live, "message_posted")
                if m["author_kind"] != "human"
            ]
        assert said == [ping, pong, ping]
        assert stopped[0]["winners"] == [] and "repeats an earlier" in stopped[0]["reason"]
    finally:
        await ping_server.stop()
        await pong_server.stop()


async def test_top_k_lets_two_personas_answer(api: httpx.AsyncClient) -> None:
    await make_room(
        api,
        "panel",
        ["debugger-ai", "codereview-ai", "helper-ai"],
        policy="top-k",
        k=2,
        min_confidence=0.0,
    )
    message_id = await post(api, "panel", "How do I fix this Python KeyError?")
    answers = await wait_for(lambda: _at_least(replies(api, "panel", message_id), 2))
    why = (await api.get(f"/v1/messages/{message_id}/why")).json()
    decision = why["decisions"][0]
    assert len(decision["winners"]) == 2 and decision["reason"] == "top-2 by score"
    assert {a["author_id"] for a in answers} == set(decision["winners"])
    assert "debugger-ai" in decision["winners"]


async def test_persona_profiles_install_all_or_one_and_each_answers_its_own_questions(
    api: httpx.AsyncClient, room_node: RoomNode, tmp_path: Path
) -> None:
    profiles = (await api.get("/v1/persona-profiles")).json()["profiles"]
    assert len(profiles) == 10 and {p["status"] for p in profiles} == {"available"}
    await make_room(api, "team", [])
    # Every name is checked first: one unknown name installs none.
    bad = await api.post(
        "/v1/persona-profiles/install", json={"profiles": ["security-ai", "secruity"]}
    )
    assert bad.status_code == 404 and "did you mean 'security-ai'" in bad.json()["error"]["message"]
    for body in ({}, {"profiles": ["qa-ai"], "all": True}, {"all": "yes"}):
        refused = await api.post("/v1/persona-profiles/install", json=body)
        assert refused.status_code == 422, (body, refused.text)
    assert "security-ai" not in {
        p["id"] for p in (await api.get("/v1/personas")).json()["personas"]
    }

    out = cli(room_node, tmp_path, "persona", "install", "security", "--room", "team")
    assert "installed security-ai (in team)" in out
    out = cli(room_node, tmp_path, "persona", "install", "--all", "--room", "team")
    assert out.count("installed ") == 9 and "security-ai was already installed" in out
    listed = cli(room_node, tmp_path, "persona", "profiles")
    assert listed.count("installed") == 10 and "Graphic Designer AI" in listed
    room = (await api.get("/v1/rooms/team")).json()
    assert len(room["members"]) == 10

    # The ThoughtStream picks the profile a question was written for.
    for question, expected in (
        ("Is my login form vulnerable to SQL injection?", "security-ai"),
        ("How do I roll back a bad deployment in Kubernetes?", "devops-ai"),
    ):
        message_id = await post(api, "team", question)
        answers = await wait_for(lambda m=message_id: replies(api, "team", m))
        assert [a["author_id"] for a in answers] == [expected]

    # A retired profile's id is not used again: named, refused; with --all, reported.
    assert (await api.delete("/v1/personas/qa-ai")).status_code == 200
    again = await api.post("/v1/persona-profiles/install", json={"profiles": ["qa-ai"]})
    assert again.status_code == 409 and "retired" in again.json()["error"]["message"]
    done = (await api.post("/v1/persona-profiles/install", json={"all": True})).json()
    assert done["installed"] == [] and done["retired"] == ["qa-ai"]
    assert len(done["present"]) == 9
