"""One trace from publisher through JetStream into another process's consumer.

The gateway runs as a real process exporting OTLP/HTTP to a receiver in this
test, which decodes the protobuf exactly as a collector would.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from nats.aio.client import Client
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from continuum.events import EventFactory
from continuum.events.builtin import AnnotationAdded
from continuum.store import JetStreamEventStore
from continuum.testing.plugin import SpawnService
from continuum.testing.processes import wait_service_ready


class Receiver:
    def __init__(self) -> None:
        self.spans: list[
            tuple[str, str, bytes, bytes, bytes]
        ] = []  # service, name, trace, span, parent
        self.lock = threading.Lock()


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, Receiver]]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            request = ExportTraceServiceRequest.FromString(body)
            with receiver.lock:
                for rs in request.resource_spans:
                    service = next(
                        a.value.string_value
                        for a in rs.resource.attributes
                        if a.key == "service.name"
                    )
                    for ss in rs.scope_spans:
                        for span in ss.spans:
                            receiver.spans.append(
                                (
                                    service,
                                    span.name,
                                    span.trace_id,
                                    span.span_id,
                                    span.parent_span_id,
                                )
                            )
            payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", receiver
    server.shutdown()


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
