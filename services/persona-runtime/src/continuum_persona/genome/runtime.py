"""persona-runtime's side of the genome: the catalog it folds, base model
registration, genome changes, prefetching, pins and the cache report.

The service hands it log events and requests; it owns no NATS code itself
beyond the two callables it is given (append an event, ask the registry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from continuum.events.chat import RoomCreated
from continuum.events.genome import BaseModelRegistered
from continuum.events.persona import GenomeLayerRef, PersonaCreated, PersonaUpdated
from continuum.genome import LayerCatalog, LayerError, parse_layer_spec
from continuum.runtime import RequestError
from continuum_lm.resolve import Genome, resolve_genome
from continuum_persona.backends import BackendPool
from continuum_persona.inference.transformers_backend import TransformersBackend
from continuum_persona.personas import Persona

log = logging.getLogger("continuum.persona.genome")

COMBINATIONS = ("cat", "linear", "svd", "ties", "ties_svd", "dare_linear", "dare_ties")
_SAME_RANK = ("linear", "ties", "dare_linear", "dare_ties")
PREFETCH_HITS = 3

AppendBase = Callable[[BaseModelRegistered], Awaitable[None]]
Search = Callable[[str, str], Awaitable[list[str]]]  # (topic, base model) -> layer ids


class GenomeRuntime:
    def __init__(self, pool: BackendPool, append_base: AppendBase, search: Search) -> None:
        self.pool = pool
        self.catalog = LayerCatalog()
        self._append_base = append_base
        self._search = search
        self._caught_up = asyncio.Event()
        self._registered: set[str] = set()

    # -- the log -----------------------------------------------------------------

    def apply(self, aggregate_id: str, payload: object, seq: int) -> None:
        self.catalog.apply(aggregate_id, payload, seq)

    def caught_up(self) -> None:
        self._caught_up.set()

    def genome_of(self, persona: Persona) -> Genome:
        return resolve_genome(persona.genome, persona.combination, self.catalog)

    async def register(self, backend: TransformersBackend) -> None:
        """Tell the registry which base model this backend serves (once per
        fingerprint), so layers for it can be checked and published."""
        await self._caught_up.wait()
        description = backend.base_description
        known = self.catalog.base_models.get(description.base_model)
        if known is not None and known.fingerprint == description.fingerprint:
            return
        if description.fingerprint in self._registered:
            return
        self._registered.add(description.fingerprint)
        await self._append_base(description)
        log.info(
            "registered base model %s (%s, %d linear modules)",
            description.base_model,
            description.fingerprint,
            len(description.modules),
        )

    # -- prefetch ----------------------------------------------------------------

    async def prefetch_persona(self, persona: Persona) -> None:
        try:
            genome = self.genome_of(persona)
        except LayerError as exc:
            log.warning("persona %s: %s", persona.persona_id, exc)
            return
        await self._prefetch_layers([(x.layer_id, x.version) for x in genome.layers])

    async def prefetch_pins(self) -> None:
        await self._prefetch_layers([(layer_id, "latest") for layer_id in self.pool.pins])

    async def prefetch_topic(self, room: RoomCreated) -> None:
        """A new room's topic: warm the layers that search finds for it."""
        topic = f"{room.name}. {room.topic}".strip()
        base = self.pool.builtin_description().base_model
        try:
            layer_ids = await self._search(topic, base)
        except Exception as exc:  # the registry may be down: prefetch is best effort
            log.info("no prefetch for room %s: %s", room.name, exc)
            return
        await self._prefetch_layers([(i, "latest") for i in layer_ids[:PREFETCH_HITS]])

    async def _prefetch_layers(self, refs: list[tuple[str, str]]) -> None:
        await self._caught_up.wait()
        for layer_id, version in refs:
            try:
                genome = resolve_genome(
                    [GenomeLayerRef(layer_id=layer_id, version=version)], "cat", self.catalog
                )
                await self.pool.layers.get(genome.layers[0], prefetch=True)
            except Exception as exc:
                log.warning("prefetch of %s@%s failed: %s", layer_id, version, exc)

    def on_persona_event(self, persona: Persona | None, payload: object) -> Awaitable[None] | None:
        """A live persona event whose genome changed: prefetch its layers."""
        if persona is None:
            return None
        if isinstance(payload, PersonaCreated | PersonaUpdated) and payload.genome:
            return self.prefetch_persona(persona)
        return None

    # -- requests ----------------------------------------------------------------

    def genome_update(self, persona: Persona, body: dict[str, Any]) -> PersonaUpdated:
        """Validate a whole new genome before anything is appended."""
        specs, combination = body.get("layers"), body.get("combination", persona.combination)
        if not isinstance(specs, list) or len(specs) > 64:
            raise RequestError("layers must be a list of at most 64 LAYER[@VERSION][:WEIGHT]")
        if combination not in COMBINATIONS:
            raise RequestError(f"combination must be one of {', '.join(COMBINATIONS)}")
        refs = []
        for spec in specs:
            if not isinstance(spec, str):
                raise RequestError("each layer must be a string LAYER[@VERSION][:WEIGHT]")
            try:
                layer_id, version, weight = parse_layer_spec(spec)
                self.catalog.resolve(layer_id, version)
            except LayerError as exc:
                raise RequestError(str(exc), getattr(exc, "status", 400)) from None
            refs.append(GenomeLayerRef(layer_id=layer_id, version=version, weight=weight))
        genome = resolve_genome(refs, combination, self.catalog)
        self._check_fits(persona, genome)
        return PersonaUpdated(genome=refs, combination=combination)

    def _check_fits(self, persona: Persona, genome: Genome) -> None:
        backend = self.pool.local_for(persona)
        if backend is not None:
            served = backend.base_description.base_model
            for layer in genome.layers:
                if layer.published.manifest.base_model != served:
                    raise RequestError(
                        f"layer {layer.ref} is for base model "
                        f"{layer.published.manifest.base_model!r}; {persona.name} runs {served!r}"
                    )
        ranks = {x.published.manifest.rank for x in genome.layers}
        if genome.combination in _SAME_RANK and len(ranks) > 1:
            raise RequestError(
                f"combination {genome.combination!r} needs layers of one rank (got "
                f"{sorted(ranks)}); use cat or svd"
            )

    def cache_report(self) -> dict[str, Any]:
        layers = self.pool.layers
        hot = [b.hot for b in self.pool.local_models()]
        return {
            "tiers": {
                "hot": _merge([h.stats.report(h.lru.used, len(h.lru)) for h in hot]),
                "warm": layers.warm.report(layers.lru.used, len(layers.lru)),
                **(
                    {"disk": layers.disk.stats.report(layers.disk.lru.used, len(layers.disk.lru))}
                    if layers.disk is not None
                    else {}
                ),
                "cold": layers.cold.report(0, 0),
            },
            "hot": [e for h in hot for e in h.entries()],
            "warm": layers.entries(),
            "pinned": sorted(self.pool.pins),
        }

    async def pin(self, layer_id: str, pinned: bool) -> None:
        if pinned:
            try:
                self.catalog.resolve(layer_id)
            except LayerError as exc:
                raise RequestError(str(exc), 404) from None
            self.pool.pins.add(layer_id)
            await self._prefetch_layers([(layer_id, "latest")])
        else:
            self.pool.pins.discard(layer_id)


def _merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One row for the hot tier of every local model (usually one)."""
    if len(reports) == 1:
        return reports[0]
    merged: dict[str, Any] = {}
    for key in (
        "entries",
        "bytes",
        "budget_bytes",
        "hits",
        "misses",
        "evictions",
        "loads",
        "prefetches",
    ):
        merged[key] = sum(int(r.get(key) or 0) for r in reports)
    lookups = merged["hits"] + merged["misses"]
    merged["hit_rate"] = round(merged["hits"] / lookups, 4) if lookups else None
    for key in ("mean_load_ms", "p50_load_ms", "max_load_ms", "p50_hit_ms"):
        values = [r[key] for r in reports if r.get(key) is not None]
        merged[key] = max(values) if values else None
    return merged
