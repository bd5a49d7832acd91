"""An OTLP/HTTP receiver for tests: it decodes what services export exactly as
an OpenTelemetry Collector would (protobuf), and keeps spans and metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


class Receiver:
    def __init__(self) -> None:
        self.spans: list[
            tuple[str, str, bytes, bytes, bytes]
        ] = []  # service, name, trace, span, parent
        self.metrics: dict[str, set[tuple[tuple[str, str], ...]]] = {}  # name -> attribute sets
        self.lock = threading.Lock()


@contextmanager
def otlp_receiver() -> Iterator[tuple[str, Receiver]]:
    """``with otlp_receiver() as (endpoint, receiver)``: set OTEL_EXPORTER_OTLP_ENDPOINT
    to ``endpoint`` in the services under test."""
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path.endswith("/v1/metrics"):
                self._metrics(body)
                return
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
            self._reply(ExportTraceServiceResponse().SerializeToString())

        def _metrics(self, body: bytes) -> None:
            request = ExportMetricsServiceRequest.FromString(body)
            with receiver.lock:
                for rm in request.resource_metrics:
                    for sm in rm.scope_metrics:
                        for metric in sm.metrics:
                            kind = metric.WhichOneof("data")
                            points = getattr(metric, kind).data_points if kind else []
                            seen = receiver.metrics.setdefault(metric.name, set())
                            for point in points:
                                seen.add(
                                    tuple(
                                        sorted(
                                            (a.key, str(a.value.string_value or a.value.int_value))
                                            for a in point.attributes
                                        )
                                    )
                                )
            self._reply(ExportMetricsServiceResponse().SerializeToString())

        def _reply(self, payload: bytes) -> None:
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
