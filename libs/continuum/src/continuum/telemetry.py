"""OpenTelemetry traces and metrics, with W3C trace context in NATS headers.

``setup_telemetry`` installs a tracer provider and a meter provider once per
process; spans and metrics go to an OTLP/HTTP exporter when
``OTEL_EXPORTER_OTLP_ENDPOINT`` (or a signal-specific variable) is set, and
nowhere otherwise, so an unobserved node pays next to nothing.
``inject``/``extract`` move the ``traceparent`` between a span and a NATS
header dict, so one trace follows an event from publisher through JetStream
into every consumer process.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.propagate import extract as _extract
from opentelemetry.propagate import inject as _inject

_configured = False


def _endpoint_set(signal: str) -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
    )


def setup_telemetry(service_name: str, node_id: str = "") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    from opentelemetry.sdk.resources import Resource

    attributes: dict[str, Any] = {"service.name": service_name, "service.namespace": "continuum"}
    if node_id:
        attributes["continuum.node"] = node_id
    resource = Resource.create(attributes)
    if _endpoint_set("TRACES"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=resource)
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    if _endpoint_set("METRICS"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        # The export interval comes from OTEL_METRIC_EXPORT_INTERVAL (default 60 s).
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))


def recording() -> bool:
    """Whether a real tracer provider is installed (spans are worth creating)."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def shutdown_telemetry() -> None:
    """Flush and stop the providers (pending spans and a last metrics export)."""
    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        shutdown = getattr(provider, "shutdown", None)
        if callable(shutdown):
            shutdown()


def tracer(name: str = "continuum") -> trace.Tracer:
    return trace.get_tracer(name)


def meter(name: str = "continuum") -> metrics.Meter:
    return metrics.get_meter(name)


def inject(headers: dict[str, str]) -> dict[str, str]:
    """Write the current trace context (``traceparent``) into NATS headers."""
    if trace.get_current_span().get_span_context().is_valid:
        _inject(headers)
    return headers


def extract(headers: Mapping[str, str] | None) -> otel_context.Context:
    return _extract(dict(headers or {}))


def trace_id_of(headers: Mapping[str, str] | None) -> str | None:
    """The trace id in a stored message's ``traceparent`` header
    (``00-<32 hex>-<16 hex>-<2 hex>``), for clients that link to traces."""
    parts = (headers or {}).get("traceparent", "").split("-")
    if len(parts) != 4 or len(parts[1]) != 32 or parts[1] == "0" * 32:
        return None
    try:
        int(parts[1], 16)
    except ValueError:
        return None
    return parts[1].lower()
