"""One trace follows a chat message through the gateway, persona-runtime
(bids), the scheduler (the decision) and back to persona-runtime (the
answer), exported over OTLP by all three processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from rooms_harness import RoomNode, following, post, replies, wait_for

from continuum.testing.browser import chromium, sign_in
from continuum.testing.otlp import Receiver, otlp_receiver

TRACE_URL = "http://grafana.example/explore?trace={trace_id}"


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Receiver]]:
    with otlp_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def service_env(receiver: tuple[str, Receiver]) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver[0],
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "CONTINUUM_GATEWAY_TRACE_URL": TRACE_URL,
    }


async def test_a_chat_message_is_one_trace_across_three_services(
    room_node: RoomNode, receiver: tuple[str, Receiver]
) -> None:
    _, received = receiver
    async with room_node.client() as api:
        await wait_for(lambda: _lobby(api))
        async with following(api, "/v1/rooms/lobby/stream") as items:
            message_id = await post(api, "lobby", "How do I fix this Python KeyError?")
            await wait_for(lambda: replies(api, "lobby", message_id))
            streamed = [
                i
                for i in items
                if i.get("kind") == "event" and i["event"]["data"].get("message_id") == message_id
            ]

    def trace_of_post() -> set[tuple[str, str]]:
        with received.lock:
            posts = [s for s in received.spans if s[1] == "POST /v1/rooms/{room_id}/messages"]
            if not posts:
                return set()
            trace_id = posts[-1][2]
            return {(s[0], s[1]) for s in received.spans if s[2] == trace_id}

    wanted = {
        ("continuum-gateway", "POST /v1/rooms/{room_id}/messages"),
        ("continuum-persona-runtime", "react continuum.chat.room.message_posted.v1"),
        ("continuum-scheduler", "cmd.scheduler.bid"),
        ("continuum-persona-runtime", "react continuum.chat.turn.decided.v1"),
    }
    spans: set[tuple[str, str]] = set()
    for _ in range(100):
        spans = trace_of_post()
        if wanted <= spans:
            break
        await asyncio.sleep(0.1)
    assert wanted <= spans, sorted(spans)
    services = {service for service, _ in spans}
    three = {"continuum-gateway", "continuum-scheduler", "continuum-persona-runtime"}
    # ... and the genome registry, whose layer-usage read model consumes the turn's outcome
    assert three <= services <= three | {"continuum-genome-registry"}
    # The room's stream names each event's trace, so a client (the web app) links to it.
    with received.lock:
        trace_id = [s for s in received.spans if s[1] == "POST /v1/rooms/{room_id}/messages"][-1][2]
    assert streamed and streamed[0]["trace_id"] == trace_id.hex(), (streamed, trace_id)


async def _lobby(api: object) -> bool:
    response = await api.get("/v1/rooms/lobby")  # type: ignore[attr-defined]
    return bool(response.status_code == 200 and len(response.json()["members"]) >= 5)


@pytest.mark.browser
async def test_the_web_app_links_each_event_to_its_trace(
    room_node: RoomNode, receiver: tuple[str, Receiver]
) -> None:
    _, received = receiver
    async with chromium() as browser:
        page = await browser.new_page()
        await sign_in(page, room_node.url, room_node.admin_token)
        await page.goto(f"{room_node.url}/#/rooms/lobby")
        await page.wait_for_selector(".connection.live")
        await page.fill("textarea[name=text]", "Which trace is this?")
        await page.keyboard.press("Enter")
        link = page.locator(".message.human", has_text="Which trace is this?").locator("a.trace")
        await link.wait_for()
        href = await link.get_attribute("href")
        # Loaded again, from the read model's history: the same link.
        await page.reload()
        await page.wait_for_selector(".connection.live")
        stored = page.locator(".message.human", has_text="Which trace is this?").locator("a.trace")
        assert await stored.get_attribute("href") == href

    async def posted() -> bool:
        with received.lock:
            return href in [
                TRACE_URL.replace("{trace_id}", s[2].hex())
                for s in received.spans
                if s[1] == "POST /v1/rooms/{room_id}/messages"
            ]

    # The link names the trace of a POST of a message (exported a moment later).
    await wait_for(posted, timeout=10)
