"""The hot tier: adapters loaded in the live model, and the genome switch.

Each layer becomes a peft adapter (``l_<sha>``) in the model the backend
generates with; a genome of several layers, or of one layer at a weight
other than 1, is assembled once with peft's ``add_weighted_adapter``
(``g_<genome key>``) and cached like a layer. Switching genomes is then a
pointer change. A layer's adapter is a slot: when a new layer must evict
one, it takes over the least recently used slot of the same shape.

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

from continuum_lm.lru import LruBytes, TierStats
from continuum_lm.resolve import Genome, ResolvedLayer
from continuum_lm.weights import LayerWeights
from continuum_persona import metrics

_DENSITY = 0.5  # for TIES and DARE: share of each update kept


class HotAdapters:
    def __init__(self, base: Any, budget_bytes: int, pinned_layer: Callable[[str], bool]) -> None:
        self.base = base  # the transformers model; LoRA layers are injected into it
        self.peft: Any = None  # the PeftModel wrapping it, once a layer was loaded
        self.layers_of: dict[str, tuple[str, ...]] = {}  # adapter -> layer ids
        self.slot_of: dict[str, str] = {}  # layer sha256 -> its adapter (a "slot")
        self._sha_of: dict[str, str] = {}  # slot -> layer sha256
        self._shape_of: dict[str, tuple[Any, ...]] = {}  # slot -> what it can hold
        self._modules: dict[str, Any] = {}
        self._slots = 0
        self.lru: LruBytes[tuple[str, ...]] = LruBytes(
            budget_bytes,
            lambda name: any(pinned_layer(i) for i in self.layers_of.get(name, ())),
            identity=lambda name: self._sha_of.get(name, name),  # a slot counts as its layer
        )
        self.stats = TierStats(budget_bytes)
        self.active = ""
        self._tuners: list[Any] = []
        self._stale = False  # True when adapters were added or deleted since the walk

    def adapter_for(self, genome: Genome) -> str | None:
        """The adapter serving ``genome`` ("" for no layers; None if not loaded)."""
        if not genome.layers:
            return ""
        if genome.single:
            return self.slot_of.get(genome.layers[0].sha256)
        return f"g_{genome.key}"

    def ready(self, genome: Genome) -> bool:
        name = self.adapter_for(genome)
        return name == "" or (name is not None and name in self.lru)

    def quick(self, genome: Genome, weights: Mapping[str, LayerWeights]) -> bool:
        """Would ``activate`` be a pointer switch or a slot rebind (sub-ms, fine
        on the event loop) rather than a peft injection (worth a thread)?"""
        if self.ready(genome):
            return True
        if not genome.single or self.peft is None:
            return False
        layer = weights[genome.layers[0].sha256]
        shape = _shape(int(layer.config.get("r", 0)), layer)
        return self.lru.used + layer.nbytes > self.lru.budget and any(
            s == shape for s in self._shape_of.values()
        )

    def activate(self, genome: Genome, weights: Mapping[str, LayerWeights]) -> bool:
        """Make ``genome`` the live one; True on a hit (it was loaded already)."""
        started = time.perf_counter()
        name = self.adapter_for(genome)
        if genome.layers:
            self.lru.frequency.record(
                genome.layers[0].sha256 if genome.single else f"g_{genome.key}"
            )
        if name == "" or (name is not None and self.lru.get(name) is not None):
            self._switch(name)
            if name:
                ms = (time.perf_counter() - started) * 1000
                self.stats.hit(ms)
                metrics.cache_lookups.add(1, {"tier": "hot", "result": "hit"})
            return True
        self.stats.misses += 1
        metrics.cache_lookups.add(1, {"tier": "hot", "result": "miss"})
        keep: set[str] = set() if name is None else {name}
        for layer in genome.layers:
            self._ensure_layer(layer, weights[layer.sha256], keep)
        name = self.adapter_for(genome)
        assert name
        if not genome.single:
            self._assemble(genome, name, frozenset(keep))
        if self._stale:  # new LoRA modules: walk the model once (ms with many adapters)
            self._tuners, self._stale = self._find_tuners(), False
        self._switch(name)
        ms = (time.perf_counter() - started) * 1000
        self.stats.loaded(ms)
        metrics.cache_load.record(ms / 1000, {"tier": "hot"})
        return False

    def _ensure_layer(self, layer: ResolvedLayer, weights: LayerWeights, keep: set[str]) -> None:
        slot = self.slot_of.get(layer.sha256)
        if slot is not None and self.lru.get(slot) is not None:
            keep.add(slot)
            return
        from peft import LoraConfig

        fields = set(LoraConfig.__dataclass_fields__)
        config = LoraConfig(**{k: v for k, v in weights.config.items() if k in fields})
        config.inference_mode = True
        shape = _shape(int(config.r), weights)
        slot = self._reusable(shape, weights.nbytes, keep)
        if slot is not None:
            self._rebind(slot, config, weights)
        else:
            slot = f"a{self._slots}"
            self._slots += 1
            self._inject(slot, config, layer, weights)
        self.slot_of[layer.sha256], self._sha_of[slot] = slot, layer.sha256
        self._shape_of[slot] = shape
        self.layers_of[slot] = (layer.layer_id,)
        keep.add(slot)
        self._insert(slot, weights.nbytes, frozenset(keep))

    def _inject(self, slot: str, config: Any, layer: ResolvedLayer, weights: LayerWeights) -> None:
        """A new adapter in the model (peft's way: walks the model)."""
        from peft import PeftModel
        from peft.utils import set_peft_model_state_dict

        # low_cpu_mem_usage: the new LoRA matrices start on the meta device (no
        # random init that would be overwritten) and the warm tier's tensors are
        # assigned, not copied: a warm load moves no weights.
        self._stale = True
        if self.peft is None:
            self.peft = PeftModel(self.base, config, adapter_name=slot, low_cpu_mem_usage=True)
        else:
            self.peft.add_adapter(slot, config, low_cpu_mem_usage=True)
        result = set_peft_model_state_dict(
            self.peft, weights.tensors, adapter_name=slot, low_cpu_mem_usage=True
        )
        wrong = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k] + [
            k for k in getattr(result, "missing_keys", []) if f".{slot}." in k
        ]
        if wrong:  # a missing matrix would stay on the meta device: never serve that
            self.peft.delete_adapter(slot)
            raise ValueError(f"layer {layer.ref} does not fit this model: {wrong[0]}")

    def _reusable(self, shape: tuple[Any, ...], nbytes: int, keep: set[str]) -> str | None:
        """When a layer must evict one to fit, the slot the cache policy picks
        among those of the same shape (rank, modules, dtype) is taken over: its
        matrices are rebound to the new layer's tensors. This is what makes a
        miss cheap at steady state: peft's add/delete walk the whole model and
        its state dict (which grows with every adapter loaded)."""
        if self.peft is None or self.lru.used + nbytes <= self.lru.budget:
            return None
        name = self.lru.victim(keep, fits=lambda n: self._shape_of.get(n) == shape)
        if name is None:
            return None
        self.lru.pop(name)
        del self.slot_of[self._sha_of.pop(name)]
        self.stats.evictions += 1
        metrics.cache_evictions.add(1, {"tier": "hot"})
        return name

    def _rebind(self, slot: str, config: Any, weights: LayerWeights) -> None:
        scale = config.lora_alpha / (config.r**0.5 if config.use_rslora else config.r)
        for tensor_name, tensor in weights.tensors.items():
            path, part = _split(tensor_name)
            module = self._modules.get(path)
            if module is None:
                module = self._modules[path] = self.base.get_submodule(path)
            getattr(module, part)[slot].weight.data = tensor
            module.scaling[slot] = scale
        self.peft.peft_config[slot] = config

    def _assemble(self, genome: Genome, name: str, keep: frozenset[str]) -> None:
        names = [self.slot_of[x.sha256] for x in genome.layers]
        kwargs: dict[str, Any] = {}
        if genome.combination in ("ties", "ties_svd", "dare_ties", "dare_linear"):
            kwargs["density"] = _DENSITY
        if genome.combination.endswith("svd"):
            kwargs["svd_rank"] = max(int(self.peft.peft_config[n].r) for n in names)
        self._stale = True
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
            self._stale = True
            self.layers_of.pop(evicted, None)
            self._shape_of.pop(evicted, None)
            sha = self._sha_of.pop(evicted, None)
            if sha is not None:
                self.slot_of.pop(sha, None)
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


def _shape(rank: int, weights: LayerWeights) -> tuple[Any, ...]:
    """What a slot can hold: the rank, the tensor names (modules), the dtype."""
    first = next(iter(weights.tensors.values()))
    return (rank, frozenset(weights.tensors), str(first.dtype))


def _split(tensor_name: str) -> tuple[str, str]:
    """``base_model.model.<module>.lora_A.weight`` -> (``<module>``, ``lora_A``)."""
    path = tensor_name.removeprefix("base_model.model.").removesuffix(".weight")
    module, _, part = path.rpartition(".")
    return module, part
