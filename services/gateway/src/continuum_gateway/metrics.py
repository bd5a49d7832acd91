"""The gateway's OpenTelemetry instruments (no-ops unless metrics are exported)."""

from __future__ import annotations

from continuum import telemetry

_meter = telemetry.meter("continuum.gateway")

#: HTTP requests by method, route and status (OTel HTTP semantic conventions).
request_duration = _meter.create_histogram(
    "http.server.request.duration", unit="s", description="Duration of HTTP requests."
)
#: External events by outcome (accepted / rejected) and way in (http / nats).
events = _meter.create_counter(
    "continuum.gateway.events", unit="{event}", description="External events handled."
)
#: Open event streams (SSE and WebSocket clients).
open_streams = _meter.create_up_down_counter(
    "continuum.gateway.streams", unit="{stream}", description="Open event streams."
)
