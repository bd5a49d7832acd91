"""With Ollama answering at OLLAMA_HOST, personas use it by default: the
seeded personas answer through Ollama's streaming chat API (an in-test
server speaking it), and a persona pinned to the built-in model does not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from rooms_harness import RoomNode, following, post, replies, wait_for

from continuum_persona.testing.wire import Script, WireServer


@pytest.fixture(scope="module")
async def ollama() -> AsyncIterator[WireServer]:
    server = await WireServer("ollama").start()
    server.script = Script(pieces=["A KeyError ", "means the key ", "is missing."])
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def persona_env(ollama: WireServer) -> dict[str, str]:
    return {
        "OLLAMA_HOST": ollama.url.removeprefix("http://"),
        "CONTINUUM_PERSONA_OLLAMA_MODEL": "qwen3",
    }


async def test_personas_answer_through_ollama_when_it_answers(
    room_node: RoomNode, ollama: WireServer
) -> None:
    async with room_node.client() as api:
        personas = (await api.get("/v1/personas")).json()["personas"]
        assert {p["effective_backend"] for p in personas} == {"ollama"}
        await wait_for(lambda: _lobby(api))
        async with following(api, "/v1/rooms/lobby/stream") as live:
            message_id = await post(api, "lobby", "How do I fix this Python KeyError?")
            answer = (await wait_for(lambda: replies(api, "lobby", message_id)))[0]
        assert answer["text"] == "A KeyError means the key is missing."
        pieces = [i["text"] for i in live if i["kind"] == "delta"]
        assert pieces == ["A KeyError ", "means the key ", "is missing."]
        request = ollama.requests[-1]
        assert request["model"] == "qwen3" and request["stream"] is True
        assert request["messages"][0]["role"] == "system"
        assert "Debugger AI" in request["messages"][0]["content"] or (
            "CodeReview AI" in request["messages"][0]["content"]
        )
        assert request["messages"][-1] == {
            "role": "user",
            "content": "Ada: How do I fix this Python KeyError?",
        }

        pinned = await api.patch("/v1/personas/helper-ai", json={"backend": {"kind": "builtin"}})
        assert pinned.json()["effective_backend"] == "builtin"


async def _lobby(api: object) -> bool:
    response = await api.get("/v1/rooms/lobby")  # type: ignore[attr-defined]
    return bool(response.status_code == 200 and len(response.json()["members"]) >= 5)
