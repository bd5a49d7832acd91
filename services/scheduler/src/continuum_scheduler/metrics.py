"""The scheduler's OpenTelemetry instruments (no-ops unless metrics are exported)."""

from __future__ import annotations

from continuum import telemetry

_meter = telemetry.meter("continuum.scheduler")

#: Turn decisions by policy and result (granted / nobody).
turns = _meter.create_counter(
    "continuum.scheduler.turns", unit="{turn}", description="Turn decisions."
)
#: How long arbitration of one turn took.
arbitration = _meter.create_histogram(
    "continuum.scheduler.arbitration", unit="s", description="Arbitration time per turn."
)
#: How long bid windows stayed open.
window = _meter.create_histogram(
    "continuum.scheduler.window", unit="s", description="Bid window length."
)
#: Preemptions by action (interrupt / queue / reject).
preemptions = _meter.create_counter(
    "continuum.scheduler.preemptions", unit="{preemption}", description="Preemptions."
)
