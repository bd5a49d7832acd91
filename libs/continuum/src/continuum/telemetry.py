"""OpenTelemetry tracing with W3C trace context carried in NATS headers.

``setup_tracing`` installs a tracer provider once per process; spans go to an
OTLP/HTTP exporter when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or the traces-specific
variable) is set, and nowhere otherwise. ``inject``/``extract`` move the
``traceparent`` between a span and a NATS header dict, so one trace follows an
event from publisher through JetStream into every consumer process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract as _extract
from opentelemetry.propagate import inject as _inject

_configured = False


def setup_tracing(service_name: str, node_id: str = "") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    if not (
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        return  # nowhere to send spans: stay on the no-op provider (near-zero cost)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    attributes: dict[str, Any] = {"service.name": service_name, "service.namespace": "continuum"}
    if node_id:
        attributes["continuum.node"] = node_id
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)


def recording() -> bool:
    """Whether a real tracer provider is installed (spans are worth creating)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    shutdown = getattr(provider, "shutdown", None)
    if callable(shutdown):
        shutdown()


def tracer(name: str = "continuum") -> trace.Tracer:
    return trace.get_tracer(name)


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Write the current trace context (``traceparent``) into NATS headers."""
    if trace.get_current_span().get_span_context().is_valid:
        _inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    return _extract(dict(headers or {}))
