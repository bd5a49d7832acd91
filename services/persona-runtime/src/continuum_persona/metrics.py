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
#: Genome layer cache lookups by tier (hot: the live model, warm: CPU tensors) and result.
cache_lookups = _meter.create_counter(
    "continuum.genome.cache.lookups", unit="{lookup}", description="Layer cache lookups."
)
#: Entries evicted from a tier (LRU by bytes).
cache_evictions = _meter.create_counter(
    "continuum.genome.cache.evictions", unit="{layer}", description="Layer cache evictions."
)
#: Time to load into a tier: cold (fetch + verify + decode) or hot (into the model).
cache_load = _meter.create_histogram(
    "continuum.genome.cache.load", unit="s", description="Layer load time by tier."
)
