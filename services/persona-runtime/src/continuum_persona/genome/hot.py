"""The hot tier: adapters loaded in the live model, and the genome switch.

Each layer becomes a peft adapter (``l_<sha>``) in the model the backend
generates with; a genome of several layers, or of one layer at a weight
other than 1, is assembled once with peft's ``add_weighted_adapter``
(``g_<genome key>``) and cached like a layer. Switching genomes is then a
pointer change.

peft's own ``set_adapter`` walks every module and flips ``requires_grad``
on every adapter of every LoRA layer: its cost grows with modules x
adapters (milliseconds with a hundred adapters loaded). Inference needs
none of that, so the switch sets each LoRA layer's active adapter directly
(microseconds; measured in ``make bench``). An empty genome is the empty
list: every LoRA layer then passes its input to the base layer untouched.
Eviction deletes the adapter from the model (LRU by bytes, pins respected).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from continuum_persona import metrics
from continuum_persona.genome.lru import LruBytes, TierStats
from continuum_persona.genome.resolve import Genome, ResolvedLayer
from continuum_persona.genome.weights import LayerWeights

_DENSITY = 0.5  # for TIES and DARE: share of each update kept


def layer_adapter(sha256: str) -> str:
    return f"l_{sha256[:16]}"


def genome_adapter(genome: Genome) -> str:
    if not genome.layers:
        return ""
    return layer_adapter(genome.layers[0].sha256) if genome.single else f"g_{genome.key}"


class HotAdapters:
    def __init__(self, base: Any, budget_bytes: int, pinned_layer: Callable[[str], bool]) -> None:
        self.base = base  # the transformers model; LoRA layers are injected into it
        self.peft: Any = None  # the PeftModel wrapping it, once a layer was loaded
        self.layers_of: dict[str, tuple[str, ...]] = {}  # adapter -> layer ids
        self.lru: LruBytes[tuple[str, ...]] = LruBytes(
            budget_bytes, lambda name: any(pinned_layer(i) for i in self.layers_of.get(name, ()))
        )
        self.stats = TierStats(budget_bytes)
        self.active = ""
        self._tuners: list[Any] = []

    def ready(self, genome: Genome) -> bool:
        return not genome.layers or genome_adapter(genome) in self.lru

    def activate(self, genome: Genome, weights: Mapping[str, LayerWeights]) -> bool:
        """Make ``genome`` the live one; True on a hit (it was loaded already)."""
        started = time.perf_counter()
        name = genome_adapter(genome)
        if not name or self.lru.get(name) is not None:
            self._switch(name)
            if name:
                ms = (time.perf_counter() - started) * 1000
                self.stats.hit(ms)
                metrics.cache_lookups.add(1, {"tier": "hot", "result": "hit"})
            return True
        self.stats.misses += 1
        metrics.cache_lookups.add(1, {"tier": "hot", "result": "miss"})
        keep = frozenset({name, *(layer_adapter(x.sha256) for x in genome.layers)})
        for layer in genome.layers:
            self._ensure_layer(layer, weights[layer.sha256], keep)
        if not genome.single:
            self._assemble(genome, name, keep)
        self._tuners = self._find_tuners()
        self._switch(name)
        ms = (time.perf_counter() - started) * 1000
        self.stats.loaded(ms)
        metrics.cache_load.record(ms / 1000, {"tier": "hot"})
        return False

    def _ensure_layer(
        self, layer: ResolvedLayer, weights: LayerWeights, keep: frozenset[str]
    ) -> None:
        name = layer_adapter(layer.sha256)
        if self.lru.get(name) is not None:
            return
        from peft import LoraConfig, PeftModel
        from peft.utils import set_peft_model_state_dict

        fields = set(LoraConfig.__dataclass_fields__)
        config = LoraConfig(**{k: v for k, v in weights.config.items() if k in fields})
        config.inference_mode = True
        if self.peft is None:
            self.peft = PeftModel(self.base, config, adapter_name=name)
        else:
            self.peft.add_adapter(name, config)
        result = set_peft_model_state_dict(self.peft, weights.tensors, adapter_name=name)
        unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
        if unexpected:
            self.peft.delete_adapter(name)
            raise ValueError(f"layer {layer.ref} does not fit this model: {unexpected[0]}")
        self.layers_of[name] = (layer.layer_id,)
        self._insert(name, weights.nbytes, keep)

    def _assemble(self, genome: Genome, name: str, keep: frozenset[str]) -> None:
        names = [layer_adapter(x.sha256) for x in genome.layers]
        kwargs: dict[str, Any] = {}
        if genome.combination in ("ties", "ties_svd", "dare_ties", "dare_linear"):
            kwargs["density"] = _DENSITY
        if genome.combination.endswith("svd"):
            kwargs["svd_rank"] = max(int(self.peft.peft_config[n].r) for n in names)
        self.peft.add_weighted_adapter(
            names,
            [x.weight for x in genome.layers],
            adapter_name=name,
            combination_type=genome.combination,
            **kwargs,
        )
        nbytes = sum(self.lru_bytes(n) for n in names)
        self.layers_of[name] = tuple(x.layer_id for x in genome.layers)
        self._insert(name, nbytes, keep)

    def lru_bytes(self, name: str) -> int:
        return next((n for key, _, n in self.lru.items() if key == name), 0)

    def _insert(self, name: str, nbytes: int, keep: frozenset[str]) -> None:
        for evicted, _ in self.lru.put(name, self.layers_of[name], nbytes, keep):
            with warnings.catch_warnings():  # "was active": the switch comes next anyway
                warnings.simplefilter("ignore")
                self.peft.delete_adapter(evicted)
            self.layers_of.pop(evicted, None)
            self.stats.evictions += 1
            metrics.cache_evictions.add(1, {"tier": "hot"})

    def _find_tuners(self) -> list[Any]:
        from peft.tuners.tuners_utils import BaseTunerLayer

        return [m for m in self.base.modules() if isinstance(m, BaseTunerLayer)]

    def _switch(self, name: str) -> None:
        if self.peft is None:
            return
        active = [name] if name else []
        for module in self._tuners:
            module._active_adapter = active
        self.peft.base_model.active_adapter = active
        self.active = name

    def entries(self) -> list[dict[str, object]]:
        return [
            {"adapter": name, "layers": list(layers), "bytes": n, "pinned": self.lru.pinned(name)}
            for name, layers, n in self.lru.items()
        ]
