"""One trace from publisher (or HTTP client) through JetStream into another
process's consumer, and the metrics a service exports.

The gateway runs as a real process exporting OTLP/HTTP to a receiver in this
test, which decodes the protobuf exactly as a collector would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from continuum.api_tokens import generate_token
from continuum.events import EventFactory
from continuum.events.builtin import AnnotationAdded
from continuum.ids import uuid7_str
from continuum.node.ports import free_port
from continuum.store import JetStreamEventStore
from continuum.testing.otlp import Receiver
from continuum.testing.plugin import SpawnService
from continuum.testing.processes import wait_service_ready


async def test_one_trace_spans_publish_and_consume_across_processes(
    otlp_receiver: tuple[str, Receiver],
    spawn_service: SpawnService,
    nc: Client,
    store: JetStreamEventStore,
    factory: EventFactory,
    tmp_path: Path,
) -> None:
    endpoint, receiver = otlp_receiver
    process = spawn_service(
        "continuum_gateway", OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, OTEL_BSP_SCHEDULE_DELAY="100"
    )
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    original = trace._TRACER_PROVIDER  # type: ignore[attr-defined]
    trace._TRACER_PROVIDER = provider  # type: ignore[attr-defined]
    try:
        await wait_service_ready(nc, "gateway", process, tmp_path / "continuum_gateway.log")
        with provider.get_tracer("external-tool").start_as_current_span("tool request") as root:
            await store.append([factory.new(AnnotationAdded(text="traced"), "tr1")], 0)
        trace_id = root.get_span_context().trace_id.to_bytes(16, "big")
        append = next(s for s in exporter.get_finished_spans() if s.name.startswith("append"))
        append_id = append.context.span_id.to_bytes(8, "big")
        for _ in range(100):
            with receiver.lock:
                found = [s for s in receiver.spans if s[2] == trace_id]
            if found:
                break
            await asyncio.sleep(0.1)
    finally:
        trace._TRACER_PROVIDER = original  # type: ignore[attr-defined]
    assert found, f"no span of trace {trace_id.hex()} reached the collector: {receiver.spans[:5]}"
    service, name, _, _, parent = found[0]
    assert (service, name) == ("continuum-gateway", "apply event-log")
    assert parent == append_id, "the consumer span must be a child of the append span"


async def test_one_trace_from_http_request_to_consumer_and_metrics(
    otlp_receiver: tuple[str, Receiver],
    spawn_service: SpawnService,
    nc: Client,
    tmp_path: Path,
) -> None:
    """POST /v1/events -> the gateway's server span -> the ingest (producer)
    span -> the event-log projection's apply span: one trace. Metrics for
    requests, events, projection lag and dead letters reach the collector."""
    endpoint, receiver = otlp_receiver
    port, admin = free_port(), generate_token()
    process = spawn_service(
        "continuum_gateway",
        OTEL_EXPORTER_OTLP_ENDPOINT=endpoint,
        OTEL_BSP_SCHEDULE_DELAY="100",
        OTEL_METRIC_EXPORT_INTERVAL="300",
        CONTINUUM_GATEWAY_PORT=str(port),
        CONTINUUM_GATEWAY_ADMIN_TOKEN=admin,
    )
    await wait_service_ready(nc, "gateway", process, tmp_path / "continuum_gateway.log")
    event = {
        "specversion": "1.0",
        "id": uuid7_str(),
        "source": "/curl",
        "type": "continuum.mesh.annotation.added.v1",
        "subject": "traced-http",
        "data": {"text": "one trace"},
    }
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        response = await client.post(
            "/v1/events",
            json=event,
            headers={
                "Authorization": f"Bearer {admin}",
                "Content-Type": "application/cloudevents+json",
            },
        )
    assert response.status_code == 200, response.text

    def spans() -> dict[str, tuple[str, str, bytes, bytes, bytes]]:
        with receiver.lock:
            return {s[1]: s for s in receiver.spans}

    wanted = ("POST /v1/events", "ingest EVT_MESH", "apply event-log")
    for _ in range(100):
        found = spans()
        names = set(found)
        if all(w in names for w in wanted):
            break
        await asyncio.sleep(0.1)
    assert all(w in found for w in wanted), sorted(found)
    http, ingest, apply = (found[w] for w in wanted)
    assert http[2] == ingest[2] == apply[2], "all three spans must share one trace id"
    with receiver.lock:
        parents = {s[3]: s[4] for s in receiver.spans if s[2] == http[2]}

    def ancestors(span_id: bytes) -> list[bytes]:
        chain = []
        while parents.get(span_id):
            span_id = parents[span_id]
            chain.append(span_id)
        return chain

    # FastAPI's own spans (dependencies, endpoint) may sit in between.
    assert http[3] in ancestors(ingest[3]), "the ingest span descends from the HTTP request"
    assert apply[4] == ingest[3], "the consumer's span is a child of the ingest span"

    expected = {
        "http.server.request.duration": ("http.route", "/v1/events"),
        "continuum.gateway.events": ("outcome", "accepted"),
        "continuum.projection.lag": ("projection", "event-log"),
        "continuum.dlq.messages": ("consumer", "gateway-ingress"),
        # FastStream's telemetry: the health requests the test waited on.
        "messaging.process.duration": ("messaging.destination_publish.name", "cmd.gateway.health"),
    }
    for _ in range(100):
        with receiver.lock:
            seen = {name: set(points) for name, points in receiver.metrics.items()}
        if all(
            any(pair in attrs for attrs in seen.get(name, ())) for name, pair in expected.items()
        ):
            break
        await asyncio.sleep(0.1)
    for name, pair in expected.items():
        assert any(pair in attrs for attrs in seen.get(name, ())), (name, seen.get(name))
