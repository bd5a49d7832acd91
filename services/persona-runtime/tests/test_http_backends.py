"""The Ollama and OpenAI-compatible backends against servers speaking their
exact streaming protocols: pieces, cancellation, failures, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from continuum.node.ports import free_port
from continuum_lm.generation import BackendError, ChatMessage, GenerationRequest
from continuum_persona.inference.http_streaming import HttpStreamingBackend
from continuum_persona.inference.ollama import OllamaBackend, normalized_host, ollama_answers
from continuum_persona.inference.openai_compat import OpenAICompatibleBackend
from continuum_persona.testing.wire import Script, WireServer

REQUEST = GenerationRequest(
    messages=[ChatMessage("system", "You are terse."), ChatMessage("user", "Ada: hi")],
    max_tokens=32,
    temperature=0.2,
)


@pytest.fixture(params=["ollama", "openai"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[WireServer]:
    wire = await WireServer(request.param).start()
    yield wire
    await wire.stop()


def backend_for(server: WireServer, timeout_s: float = 5.0) -> HttpStreamingBackend:
    if server.kind == "ollama":
        return OllamaBackend(server.url, "llama3.2", timeout_s=timeout_s)
    return OpenAICompatibleBackend(server.url + "/v1", "my-lora", "sk-test", timeout_s=timeout_s)


async def collect(backend: HttpStreamingBackend, cancel: asyncio.Event | None = None) -> list[str]:
    return [p async for p in backend.stream(REQUEST, cancel or asyncio.Event())]  # type: ignore[attr-defined]


async def test_streams_every_piece_in_order_and_sends_the_protocol_body(server: WireServer) -> None:
    backend = backend_for(server)
    try:
        assert await collect(backend) == server.script.pieces
    finally:
        await backend.close()
    body = server.requests[0]
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Ada: hi"},
    ]
    if server.kind == "ollama":
        assert body["model"] == "llama3.2"
        assert body["options"] == {"num_predict": 32, "temperature": 0.2}
    else:
        assert body["model"] == "my-lora" and body["max_tokens"] == 32


async def test_cancel_stops_the_stream_and_hangs_up(server: WireServer) -> None:
    server.script = Script(pieces=[f"t{i} " for i in range(100)], delay_s=0.02)
    backend = backend_for(server)
    cancel = asyncio.Event()
    got: list[str] = []
    try:
        async for piece in backend.stream(REQUEST, cancel):
            got.append(piece)
            if len(got) == 3:
                cancel.set()
    finally:
        await backend.close()
    assert got == ["t0 ", "t1 ", "t2 "]
    for _ in range(100):
        if server.disconnects:
            break
        await asyncio.sleep(0.02)
    assert server.disconnects == 1 and server.sent < 10


async def test_a_server_dying_mid_stream_is_a_backend_error(server: WireServer) -> None:
    server.script = Script(pieces=["a", "b", "c", "d"], die_after=2)
    backend = backend_for(server)
    got: list[str] = []

    async def consume() -> None:
        async for piece in backend.stream(REQUEST, asyncio.Event()):
            got.append(piece)

    try:
        with pytest.raises(BackendError) as failure:
            await consume()
    finally:
        await backend.close()
    assert got == ["a", "b"]
    assert server.kind in str(failure.value)


async def test_a_stalled_server_times_out(server: WireServer) -> None:
    server.script = Script(pieces=["a", "b"], stall_after=1)
    backend = backend_for(server, timeout_s=0.5)
    try:
        with pytest.raises(BackendError, match=r"sent nothing for 0\.5 s"):
            await collect(backend)
    finally:
        await backend.close()


async def test_an_http_error_names_the_status(server: WireServer) -> None:
    server.script = Script(status=404)
    backend = backend_for(server)
    try:
        with pytest.raises(BackendError, match="answered 404"):
            await collect(backend)
    finally:
        await backend.close()


async def test_nothing_listening_is_a_backend_error() -> None:
    backend = OllamaBackend(f"127.0.0.1:{free_port()}", "llama3.2", timeout_s=1)
    try:
        with pytest.raises(BackendError, match="ConnectError"):
            await collect(backend)
    finally:
        await backend.close()


async def test_ollama_detection_decides_the_default_backend() -> None:
    wire = await WireServer("ollama").start()
    try:
        assert await ollama_answers(wire.url)
        assert await ollama_answers(wire.url.removeprefix("http://"))  # OLLAMA_HOST style
    finally:
        await wire.stop()
    assert not await ollama_answers(f"http://127.0.0.1:{free_port()}")
    assert normalized_host("") == "http://127.0.0.1:11434"
