"""persona-runtime's OpenTelemetry instruments (no-ops unless metrics are exported)."""

from __future__ import annotations

from continuum import telemetry

_meter = telemetry.meter("continuum.persona")

#: Generations by backend and status (complete / interrupted / failed).
generations = _meter.create_counter(
    "continuum.persona.generations", unit="{generation}", description="Generations."
)
#: Time from the start of a generation to its first piece, by backend.
first_token = _meter.create_histogram(
    "continuum.persona.first_token", unit="s", description="Time to the first generated piece."
)
