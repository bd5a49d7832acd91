"""Gateway ingress benchmark: HTTP POST /v1/events vs direct JetStream publishing.

Side by side in one run, on fresh servers per repetition, medians reported:

(a) direct: pre-signed, pre-encoded events published straight to the
    node's event stream with nats-py ``publish_async`` (acknowledged,
    deduplicated by ``Nats-Msg-Id``) — the fastest anything can put events
    into the log, skipping every check;
(b) HTTP single: one CloudEvent per ``POST /v1/events`` (structured mode),
    from concurrent keep-alive connections;
(c) HTTP batched: ``application/cloudevents-batch+json`` batches of 100
    and of 1,000 events (the largest batch the gateway takes).

(b) and (c) run twice per repetition: with the event-id index (the default:
a re-sent id is recognised for as long as the event is in the log, at the
price of one indexed read-model lookup per request) and without it
(``CONTINUUM_GATEWAY_ID_INDEX=false``: JetStream's dedupe window alone,
as before the index), each against its own gateway process.

All three run against the same running node: the gateway as its own
process, exactly as `continuum up` starts it, including its event-log
projection, which applies every event of every mode; each mode starts when
the projection has caught up with the previous one. Through HTTP the
gateway does all of its work per event: auth, parsing, catalog validation,
signing as the node, and an acknowledged append. An event counts when the
HTTP response (or the JetStream ack) is back. Client and node share the
machine's cores, as they would on a laptop.

Usage: python tests/benchmarks/bench_gateway.py [--events N] [--repeats R] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress

from continuum.api_tokens import generate_token
from continuum.events import EventCodec, EventFactory
from continuum.events.builtin import AnnotationAdded
from continuum.events.seal import SEAL_HEADER
from continuum.identity import NodeIdentity
from continuum.ids import uuid7_str
from continuum.node.ports import free_port
from continuum.testing.processes import spawn_service, stop_service, wait_service_ready

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import (
    MAX_BYTES,
    Servers,
    percentiles,
    start_postgres,
    stop_postgres,
    write_section,
)

ANNOTATION = "continuum.mesh.annotation.added.v1"
CONNECTIONS = 16
BATCHES = (100, 1000)
BATCH_CONNECTIONS = 4
console = Console()
#: The node's key, shared by the gateway process and the direct publisher.
NODE_KEY = base64.b64encode(bytes(NodeIdentity.generate().signing_key)).decode()


def make_event(i: int) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": uuid7_str(),
        "source": "/bench/tool",
        "type": ANNOTATION,
        "subject": f"bench{i % 256}",
        "time": "2026-11-28T12:00:00.000000Z",
        "data": {"text": f"benchmark event {i}", "tags": ["bench"]},
    }


async def direct(servers: Servers, n: int) -> float:
    identity = NodeIdentity.configured(Path("/nonexistent"), NODE_KEY)
    factory = EventFactory(identity, "/bench/direct")
    codec = EventCodec(MAX_BYTES, seal_key=identity.seal_key)
    js = servers.nc.jetstream()
    payloads = []
    for i in range(n):
        envelope = factory.new(AnnotationAdded(text=f"benchmark event {i}"), f"bench{i % 256}")
        subject, payload = codec.subject_of(envelope), codec.encode(envelope)
        headers = {"Nats-Msg-Id": envelope.id, SEAL_HEADER: codec.seal(subject, payload) or ""}
        payloads.append((subject, payload, headers))
    start = time.monotonic()
    futures = [await js.publish_async(s, p, headers=h) for s, p, h in payloads]
    await asyncio.gather(*futures)
    return n / (time.monotonic() - start)


async def caught_up(servers: Servers, timeout: float = 300) -> None:
    """Wait until the gateway's event-log projection has applied everything."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await servers.nc.request("cmd.projections.event-log.status", b"{}", timeout=5)
        status = json.loads(reply.data)
        if all((st.get("pending") or 0) == 0 for st in status["streams"].values()):
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("the event-log projection did not catch up")


class Gateway:
    """The gateway as a separate process on fresh servers."""

    def __init__(self, servers: Servers, home: Path, *, id_index: bool = True) -> None:
        self.servers = servers
        self.home = home
        self.id_index = id_index
        self.port = free_port()
        self.token = generate_token()

    async def __aenter__(self) -> Gateway:
        self.process = spawn_service(
            "continuum_gateway",
            nats_url=self.servers.nats.url,
            database_url=self.servers.dsn,
            home=self.home,
            log_path=self.home / "gateway.log",
            env={
                "CONTINUUM_GATEWAY_PORT": str(self.port),
                "CONTINUUM_GATEWAY_ADMIN_TOKEN": self.token,
                "CONTINUUM_GATEWAY_RATE_LIMIT": "0",
                "CONTINUUM_GATEWAY_ID_INDEX": str(self.id_index).lower(),
                "CONTINUUM_LOG_LEVEL": "WARNING",
                "CONTINUUM_NODE_KEY": NODE_KEY,
            },
        )
        await wait_service_ready(
            self.servers.nc, "gateway", self.process, self.home / "gateway.log"
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        stop_service(self.process)

    def client(self, connections: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {self.token}"},
            limits=httpx.Limits(max_connections=connections),
            timeout=60,
        )


async def post_all(
    gateway: Gateway, bodies: list[bytes], content_type: str, connections: int, per_body: int
) -> tuple[float, list[float]]:
    """Events/s and per-request latencies (s) posting ``bodies`` over ``connections``."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    async with gateway.client(connections) as client:
        await client.get("/healthz")

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                sent = time.monotonic()
                response = await client.post(
                    "/v1/events", content=body, headers={"Content-Type": content_type}
                )
                latencies.append(time.monotonic() - sent)
                if response.status_code != 200:
                    raise RuntimeError(f"gateway answered {response.status_code}: {response.text}")

        start = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.monotonic() - start
    return len(bodies) * per_body / elapsed, latencies


async def http_single(gateway: Gateway, n: int) -> tuple[float, list[float]]:
    bodies = [json.dumps(make_event(i)).encode() for i in range(n)]
    return await post_all(gateway, bodies, "application/cloudevents+json", CONNECTIONS, 1)


async def http_batched(gateway: Gateway, n: int, size: int) -> tuple[float, list[float]]:
    bodies = [
        json.dumps([make_event(b * size + i) for i in range(size)]).encode()
        for b in range(n // size)
    ]
    return await post_all(
        gateway, bodies, "application/cloudevents-batch+json", BATCH_CONNECTIONS, size
    )


async def main(n: int, repeats: int) -> dict[str, list[float]]:
    modes = ["single", *(f"batch{size}" for size in BATCHES)]
    keys = ["direct"]
    for variant in VARIANTS:
        for mode in modes:
            keys += [f"{mode}{variant}", f"{mode}{variant}_p50", f"{mode}{variant}_p99"]
    results: dict[str, list[float]] = {k: [] for k in keys}
    pg = start_postgres()
    try:
        with Progress(console=console) as progress:
            steps = repeats * (1 + len(VARIANTS) * len(modes))
            task = progress.add_task("gateway benchmark", total=steps)
            for repeat in range(repeats):
                async with Servers(pg) as servers:
                    results["direct"].append(await direct(servers, n))
                    progress.advance(task)
                    for variant, id_index in VARIANTS.items():
                        home = servers.tmp / f"home{repeat}{variant}"
                        async with Gateway(servers, home, id_index=id_index) as gateway:
                            for mode in modes:
                                await caught_up(servers)
                                if mode == "single":
                                    rate, latencies = await http_single(gateway, max(n // 5, 1000))
                                else:
                                    size = int(mode.removeprefix("batch"))
                                    rate, latencies = await http_batched(gateway, n, size)
                                results[f"{mode}{variant}"].append(rate)
                                p50, p99 = percentiles(latencies)
                                results[f"{mode}{variant}_p50"].append(p50)
                                results[f"{mode}{variant}_p99"].append(p99)
                                progress.advance(task)
    finally:
        stop_postgres(pg)
    return results


#: Result-key suffix -> whether the gateway runs with its event-id index.
VARIANTS = {"": True, "_window": False}


def render(results: dict[str, list[float]], n: int, repeats: int, command: str) -> str:
    med = {k: statistics.median(v) for k, v in results.items()}
    batched_ratio = max(med[f"batch{size}"] for size in BATCHES) / med["direct"]
    lines = [
        "## Gateway ingress (HTTP POST /v1/events)",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {n:,} events per direct and batched run "
        f"({max(n // 5, 1000):,} single requests), medians of {repeats} repetitions, each on "
        "a fresh node (NATS, Postgres, the gateway process with its event-log projection "
        "applying every event); an event counts when its response (or JetStream ack) is back.",
        "",
        "| way in | events/s | / direct | / same without id index "
        "| request p50, ms | request p99, ms |",
        "|---|---:|---:|---:|---:|---:|",
        f"| (a) direct JetStream publish of pre-signed events | {med['direct']:,.0f} | 1.00 "
        "| | | |",
        *(
            f"| {label}{' (dedupe window only)' if variant else ''} | {med[mode + variant]:,.0f} "
            f"| {med[mode + variant] / med['direct']:.2f} "
            f"| {med[mode + variant] / med[mode + '_window']:.2f} "
            f"| {med[mode + variant + '_p50']:.1f} | {med[mode + variant + '_p99']:.1f} |"
            for mode, label in [
                ("single", f"(b) HTTP, one event per request ({CONNECTIONS} connections)"),
                *(
                    (
                        f"batch{size}",
                        f"(c) HTTP, batches of {size:,} ({BATCH_CONNECTIONS} connections)",
                    )
                    for size in BATCHES
                ),
            ]
            for variant in VARIANTS
        ),
        "",
        "Target: batched HTTP ingress at least a third of direct JetStream publishing, "
        "with the largest batches "
        f"({'met' if batched_ratio >= 1 / 3 else 'NOT met'}: {batched_ratio:.2f}). Direct "
        "publishing skips everything the gateway does per event (token, CloudEvents parsing, "
        "catalog validation, Ed25519 signature as the node, seal); a request also pays two "
        "JetStream round trips for its atomic batch, which is why larger batches go faster.",
        "",
        "Event-id idempotency: with the index (the default) a re-sent id is answered "
        "`duplicate: true` with its original sequence for as long as the event is in the log; "
        "the index is one read-model lookup per request (`id = ANY(...)`, indexed). The "
        "'/ same without id index' column is its cost: each mode against the same mode with "
        "JetStream's dedupe window alone (`CONTINUUM_GATEWAY_ID_INDEX=false`), measured in "
        "the same repetition on the same servers.",
        "",
        "Each repetition: "
        + "; ".join(f"{k} " + ", ".join(f"{v:,.1f}" for v in vals) for k, vals in results.items()),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, help="Markdown file to write the table into.")
    args = parser.parse_args()
    results = asyncio.run(main(args.events, args.repeats))
    command = "make bench" if args.write else " ".join(["python", *sys.argv])
    section = render(results, args.events, args.repeats, command)
    console.print(section)
    if args.write:
        write_section(args.write, "gateway", section)
        console.print(f"written to {args.write}")
