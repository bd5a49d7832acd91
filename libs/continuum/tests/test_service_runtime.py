"""The service runtime on FastStream, end to end on real NATS and Postgres.

A small service runs through ``serve`` exactly as a real one does: typed
and JSON-object commands answer in the NATS service API's format (refusals
as error headers naming the problem, never a timeout), ``$SRV.PING/INFO/STATS``
describe it, signals reach their handler and a refused one is dropped, and
a follower replays history then follows.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from nats.aio.client import Client
from pydantic import BaseModel, Field, SecretStr

from continuum.chat.signals import Presence, encode
from continuum.events import EventFactory
from continuum.events.builtin import AnnotationAdded
from continuum.node.embedded import NatsServer
from continuum.node.probe import discover
from continuum.runtime import RequestError, Service, ServiceContext, serve
from continuum.runtime.requests import ServiceRequestError, request_json
from continuum.settings import Settings
from continuum.store import JetStreamEventStore, StoredEvent


class Greeting(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    times: int = Field(default=1, ge=1, le=3)


class Echo(Service):
    name = "echo"
    description = "A service for the runtime's tests"
    schema = "echo"

    def __init__(self) -> None:
        self.presence: list[list[str]] = []
        self.followed: list[tuple[str, bool]] = []

    async def on_start(self, ctx: ServiceContext) -> None:
        async def greet(body: Greeting) -> dict[str, Any]:
            return {"greeting": " ".join([f"hello {body.name}"] * body.times)}

        async def refuse(body: dict[str, Any]) -> dict[str, Any]:
            raise RequestError(f"no {body.get('what', 'thing')} here", 404)

        async def crash(_: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("secret internals")

        async def seen(_: str, signal: Presence) -> None:
            self.presence.append(signal.personas)

        async def follow(event: StoredEvent, live: bool) -> None:
            self.followed.append((event.event.payload.text, live))  # type: ignore[attr-defined]

        await ctx.commands.add("greet", "cmd.echo.greet", greet, request=Greeting, summary="Greet.")
        await ctx.commands.add("refuse", "cmd.echo.refuse", refuse)
        await ctx.commands.add("crash", "cmd.echo.crash", crash)
        await ctx.subscribe("presence.personas", Presence, seen)
        follower = ctx.follower("EVT_MESH", "evt.mesh.>", follow)
        await follower.start()
        await follower.caught_up()


@pytest.fixture
async def echo(
    nats_server: NatsServer,
    nc: Client,
    database_url: str,
    store: JetStreamEventStore,
    factory: EventFactory,
    tmp_path: Path,
) -> AsyncIterator[Echo]:
    await store.append([factory.new(AnnotationAdded(text="before"), "a")], 0)
    settings = Settings(
        home=tmp_path / "home",
        nats_url=nats_server.url,
        database_url=SecretStr(database_url),
    )
    service, stop = Echo(), asyncio.Event()
    task = asyncio.create_task(serve(service, settings, stop))
    for _ in range(200):
        if task.done():
            task.result()
        try:
            await request_json(nc, "cmd.echo.health", {}, timeout=0.5)
            break
        except ServiceRequestError:
            await asyncio.sleep(0.05)
    yield service
    stop.set()
    await asyncio.wait_for(task, 20)


async def _error(nc: Client, subject: str, body: bytes) -> tuple[int, str]:
    reply = await nc.request(subject, body, timeout=5)
    headers = reply.headers or {}
    return int(headers["Nats-Service-Error-Code"]), headers["Nats-Service-Error"]


async def test_a_typed_command_answers_and_refuses_by_field(echo: Echo, nc: Client) -> None:
    assert await request_json(nc, "cmd.echo.greet", {"name": "ada", "times": 2}) == {
        "greeting": "hello ada hello ada"
    }
    code, message = await _error(nc, "cmd.echo.greet", b'{"name": "ada", "times": 9}')
    assert code == 400
    assert message.startswith("times: Input should be less than or equal to 3")


async def test_bad_bodies_get_a_reason_not_a_timeout(echo: Echo, nc: Client) -> None:
    assert await _error(nc, "cmd.echo.greet", b"[1, 2]") == (
        400,
        "request body must be a JSON object",
    )
    code, message = await _error(nc, "cmd.echo.refuse", b"{not json")
    assert code == 400 and "not valid JSON" in message
    deep = b"[" * 100 + b"]" * 100
    code, message = await _error(nc, "cmd.echo.refuse", deep)
    assert code == 400 and "nest" in message


async def test_handler_refusals_and_failures(echo: Echo, nc: Client) -> None:
    assert await _error(nc, "cmd.echo.refuse", b'{"what": "cake"}') == (404, "no cake here")
    assert await _error(nc, "cmd.echo.crash", b"{}") == (
        500,
        "internal error (see the service log)",
    )


async def test_the_service_api_describes_the_instance(echo: Echo, nc: Client) -> None:
    await request_json(nc, "cmd.echo.greet", {"name": "x"})
    [ping] = [s for s in await discover(nc) if s["name"] == "echo"]
    assert ping["type"] == "io.nats.micro.v1.ping_response"
    [info] = [s for s in await discover(nc, verb="INFO") if s["name"] == "echo"]
    subjects = {e["subject"] for e in info["endpoints"]}
    assert {"cmd.echo.greet", "cmd.echo.refuse", "cmd.echo.health"} <= subjects
    reply = await nc.request(f"$SRV.STATS.echo.{ping['id']}", b"", timeout=2)
    stats = {e["subject"]: e for e in json.loads(reply.data)["endpoints"]}
    assert stats["cmd.echo.greet"]["num_requests"] >= 1
    assert stats["cmd.echo.greet"]["queue_group"] == "echo"
    # Addressed to another service: no answer at all.
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    await nc.publish("$SRV.PING.somebody-else", b"", reply=inbox)
    with pytest.raises(TimeoutError):
        await sub.next_msg(timeout=0.3)


async def test_signals_reach_the_handler_and_refused_ones_are_dropped(
    echo: Echo, nc: Client
) -> None:
    await nc.publish("presence.personas", b'{"personas": 7}')  # refused by the model
    await nc.publish("presence.personas", encode(Presence(personas=["p1", "p2"])))
    for _ in range(100):
        if echo.presence:
            break
        await asyncio.sleep(0.02)
    assert echo.presence == [["p1", "p2"]]


async def test_the_follower_replays_then_follows(
    echo: Echo, store: JetStreamEventStore, factory: EventFactory
) -> None:
    await store.append([factory.new(AnnotationAdded(text="after"), "b")], 0)
    for _ in range(100):
        if len(echo.followed) == 2:
            break
        await asyncio.sleep(0.02)
    assert echo.followed == [("before", False), ("after", True)]
