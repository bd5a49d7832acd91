"""The gateway service as a real process: discovery, health, queries, crashes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from continuum.events import Envelope, EventCodec, EventFactory
from continuum.events.builtin import AnnotationAdded, NodeStarted
from continuum.ids import uuid7_str
from continuum.node import probe
from continuum.node.embedded import NatsServer
from continuum.node.ports import free_port
from continuum.projections import Projection
from continuum.store import JetStreamEventStore
from continuum.testing.contracts import ProjectionContract
from continuum.testing.processes import wait_service_ready
from continuum_gateway.event_log import EventLogProjection

Spawn = Callable[..., subprocess.Popen[bytes]]


class TestEventLogContract(ProjectionContract):
    @pytest.fixture
    def projection(self) -> Projection:
        return EventLogProjection()

    @pytest.fixture
    def sample_events(self, factory: EventFactory) -> list[list[Envelope]]:
        node = factory.new(NodeStarted(name="n", version="1", nats_url="nats://x"), "node1")
        notes = [[factory.new(AnnotationAdded(text=f"t{i}"), f"a{i % 4}")] for i in range(20)]
        return [[node], *notes]

    async def snapshot(self, conn: asyncpg.Connection) -> object:
        log = await conn.fetch("SELECT * FROM gateway.event_log ORDER BY stream, seq")
        counts = await conn.fetch("SELECT * FROM gateway.event_type_counts ORDER BY type")
        return [tuple(r) for r in log], [tuple(r) for r in counts]


async def request(nc: Client, subject: str, body: dict) -> tuple[dict | None, dict]:
    msg = await nc.request(subject, json.dumps(body).encode(), timeout=10)
    headers = msg.headers or {}
    return (json.loads(msg.data) if msg.data else None), headers


async def test_service_is_discovered_healthy_and_answers(
    gateway: Spawn, nc: Client, tmp_path: Path, store: JetStreamEventStore, factory: EventFactory
) -> None:
    process = gateway()
    await wait_service_ready(nc, "gateway", process, tmp_path / "continuum_gateway.log")
    services = await probe.discover(nc)
    assert [s["name"] for s in services] == ["gateway"]
    health = await probe.health(nc, "gateway")
    assert health["nats"] and health["postgres"] and "event-log" in health["projections"]

    await store.append([factory.new(AnnotationAdded(text="hi"), "q1")], 0)
    for _ in range(100):
        reply, _ = await request(nc, "cmd.gateway.events.query", {"subject": "q1"})
        if reply and reply["events"]:
            break
        await asyncio.sleep(0.05)
    assert reply is not None and reply["events"][0]["type"] == "continuum.mesh.annotation.added.v1"

    _, headers = await request(nc, "cmd.gateway.events.query", {"limit": "lots"})
    assert headers["Nats-Service-Error-Code"] == "400"
    assert "limit must be an integer" in headers["Nats-Service-Error"]
    msg = await nc.request("cmd.gateway.events.query", b"{oops", timeout=5)
    assert "not valid JSON" in (msg.headers or {})["Nats-Service-Error"]
    _, headers = await request(nc, "cmd.dlq.event-log.redrive", {"dlq_seq": 999})
    assert headers["Nats-Service-Error-Code"] == "404"

    process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(process.wait, 15) == 0, "graceful shutdown must exit 0"
    assert await probe.discover(nc, wait=0.3) == []


async def _position(pool: asyncpg.Pool) -> int:
    try:
        value = await pool.fetchval(
            "SELECT coalesce(sum(position), 0) FROM gateway.projection_checkpoints"
        )
    except asyncpg.UndefinedTableError:
        return 0
    return int(value)


async def _snapshot(pool: asyncpg.Pool) -> tuple[list[tuple], list[tuple]]:
    log = await pool.fetch(
        "SELECT stream, seq, id, type, subject, data FROM gateway.event_log ORDER BY stream, seq"
    )
    counts = await pool.fetch("SELECT type, events FROM gateway.event_type_counts ORDER BY type")
    return [tuple(r) for r in log], [tuple(r) for r in counts]


@pytest.mark.slow
async def test_sigkill_mid_stream_then_restart_equals_full_replay(
    gateway: Spawn,
    nc: Client,
    pool: asyncpg.Pool,
    codec: EventCodec,
    factory: EventFactory,
    tmp_path: Path,
) -> None:
    total = 10_000
    js = nc.jetstream()
    futures = []
    for i in range(total):
        event = factory.new(AnnotationAdded(text=f"event {i}"), f"agg{i % 50}")
        futures.append(
            await js.publish_async(
                codec.subject_of(event), codec.encode(event), headers={"Nats-Msg-Id": event.id}
            )
        )
    await asyncio.gather(*futures)

    kills = 0
    for threshold in (total // 5, total // 2):
        process = gateway()
        while await _position(pool) < threshold:
            assert process.poll() is None, (tmp_path / "continuum_gateway.log").read_text()[-3000:]
            await asyncio.sleep(0.005)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        kills += 1
        assert await _position(pool) < total, "the kill must land mid-stream"
    process = gateway()
    await wait_service_ready(nc, "gateway", process, tmp_path / "continuum_gateway.log")
    for _ in range(600):
        if await _position(pool) >= total:
            break
        await asyncio.sleep(0.05)
    resumed = await _snapshot(pool)
    assert len(resumed[0]) == total
    assert resumed[1] == [("continuum.mesh.annotation.added.v1", total)]

    reply, headers = await request(nc, "cmd.projections.event-log.rebuild", {})
    assert reply is not None and reply["events"] == total, headers
    assert await _snapshot(pool) == resumed
    assert kills == 2


@pytest.mark.slow
async def test_nats_ingress_survives_sigkill_without_loss_or_duplicates(
    gateway: Spawn, nc: Client, tmp_path: Path
) -> None:
    """External events queued on the INGRESS stream while the gateway is
    SIGKILLed mid-way: after a restart every one is in the log exactly once."""
    total = 3000
    js = nc.jetstream()
    ids = []
    futures = []
    for i in range(total):
        event_id = uuid7_str()
        ids.append(event_id)
        body = {
            "specversion": "1.0",
            "id": event_id,
            "source": "/tool",
            "type": "continuum.mesh.annotation.added.v1",
            "subject": f"ing{i % 20}",
            "data": {"text": f"queued {i}"},
        }
        futures.append(
            await js.publish_async(
                "ingress.tool",
                json.dumps(body).encode(),
                headers={"Content-Type": "application/cloudevents+json"},
            )
        )
    await asyncio.gather(*futures)

    async def stored() -> int:
        return int((await js.stream_info("EVT_MESH")).state.messages)

    process = gateway()
    while await stored() < total // 4:
        assert process.poll() is None, (tmp_path / "continuum_gateway.log").read_text()[-3000:]
        await asyncio.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(process.wait)
    assert await stored() < total, "the kill must land mid-stream"

    process = gateway()
    await wait_service_ready(nc, "gateway", process, tmp_path / "continuum_gateway.log")
    for _ in range(600):
        if (await js.stream_info("INGRESS")).state.messages == 0 and await stored() >= total:
            break
        await asyncio.sleep(0.05)
    assert await stored() == total  # nothing lost, nothing twice (Nats-Msg-Id = event id)
    sub = await js.pull_subscribe(
        "evt.mesh.>", stream="EVT_MESH", config=ConsumerConfig(ack_policy=AckPolicy.NONE)
    )
    seen: list[str] = []
    while len(seen) < total:
        seen += [json.loads(m.data)["id"] for m in await sub.fetch(500, timeout=5)]
    assert sorted(seen) == sorted(ids)


async def test_readiness_follows_nats_while_liveness_stays_up(
    gateway: Spawn, nc: Client, nats_server: NatsServer, tmp_path: Path
) -> None:
    port = free_port()
    process = gateway(CONTINUUM_GATEWAY_PORT=str(port))
    await wait_service_ready(nc, "gateway", process, tmp_path / "continuum_gateway.log")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        assert (await http.get("/readyz")).status_code == 200
        nats_server.stop()
        for _ in range(100):
            ready = await http.get("/readyz")
            if ready.status_code == 503:
                break
            await asyncio.sleep(0.1)
        assert ready.status_code == 503
        assert ready.json() == {"status": "not ready", "nats": False, "postgres": True}
        assert (await http.get("/healthz")).status_code == 200  # alive: restarting won't help
