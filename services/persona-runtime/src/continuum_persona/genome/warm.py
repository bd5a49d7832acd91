"""The warm tier: verified layer tensors in CPU memory, filled from the cold
tier (the registry's object store) on a miss.

Concurrent requests for the same layer share one fetch (single flight).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

from continuum.genome import LayerError
from continuum_lm.lru import LruBytes, TierStats
from continuum_lm.resolve import ResolvedLayer
from continuum_lm.weights import LayerWeights, decode_layer
from continuum_persona import metrics
from continuum_persona.genome.disk import DiskLayers


class LayerSource(Protocol):
    async def get_layer(self, sha256: str) -> bytes: ...


class WarmLayers:
    def __init__(
        self,
        source: LayerSource,
        budget_bytes: int,
        pinned: Callable[[str], bool],
        disk: DiskLayers | None = None,
    ) -> None:
        self.source = source
        self.disk = disk
        self.layer_of: dict[str, str] = {}  # sha256 -> layer id (for pins)
        self.lru: LruBytes[LayerWeights] = LruBytes(
            budget_bytes, lambda sha: pinned(self.layer_of.get(sha, ""))
        )
        self.warm = TierStats(budget_bytes)
        self.cold = TierStats(0)
        self._inflight: dict[str, asyncio.Future[LayerWeights]] = {}

    async def get(self, layer: ResolvedLayer, prefetch: bool = False) -> LayerWeights:
        sha = layer.sha256
        self.layer_of[sha] = layer.layer_id
        if not prefetch:
            self.lru.frequency.record(sha)
        cached = self.lru.get(sha)
        if cached is not None:
            if not prefetch:
                self.warm.hit()
                metrics.cache_lookups.add(1, {"tier": "warm", "result": "hit"})
            return cached
        if prefetch:
            self.warm.prefetches += 1
        else:
            self.warm.misses += 1
            metrics.cache_lookups.add(1, {"tier": "warm", "result": "miss"})
        pending = self._inflight.get(sha)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[LayerWeights] = asyncio.get_running_loop().create_future()
        self._inflight[sha] = future
        try:
            weights = await self._load(layer)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning
            raise
        else:
            future.set_result(weights)
            return weights
        finally:
            self._inflight.pop(sha, None)

    async def _load(self, layer: ResolvedLayer) -> LayerWeights:
        if self.disk is not None:
            started = time.perf_counter()
            data = await asyncio.to_thread(self.disk.read, layer.sha256)
            if data is not None:
                try:
                    weights = await asyncio.to_thread(decode_layer, data, layer.published)
                except LayerError:
                    self.disk.drop(layer.sha256)  # damaged on disk: fetch it again
                else:
                    ms = (time.perf_counter() - started) * 1000
                    self.disk.stats.loaded(ms)
                    metrics.cache_load.record(ms / 1000, {"tier": "disk"})
                    return self._keep(layer, weights)
        started = time.perf_counter()
        try:
            data = await self.source.get_layer(layer.sha256)
        except KeyError:
            raise LayerError(
                f"the weights of layer {layer.ref} are not in the registry's store"
            ) from None
        weights = await asyncio.to_thread(decode_layer, data, layer.published)
        ms = (time.perf_counter() - started) * 1000
        self.cold.loaded(ms)
        metrics.cache_load.record(ms / 1000, {"tier": "cold"})
        if self.disk is not None:  # verified: worth keeping on disk
            await asyncio.to_thread(self.disk.write, layer.sha256, data)
        return self._keep(layer, weights)

    def _keep(self, layer: ResolvedLayer, weights: LayerWeights) -> LayerWeights:
        if self.lru.admit(layer.sha256, weights.nbytes) or self.lru.pinned(layer.sha256):
            for _ in self.lru.put(layer.sha256, weights, weights.nbytes):
                self.warm.evictions += 1
                metrics.cache_evictions.add(1, {"tier": "warm"})
        return weights

    def entries(self) -> list[dict[str, object]]:
        return [
            {"sha256": sha, "layer": w.ref, "bytes": n, "pinned": self.lru.pinned(sha)}
            for sha, w, n in self.lru.items()
        ]
