"""Crossover: two (or more) layers merged into one with peft's
``add_weighted_adapter`` (weighted ``cat``, ``linear``/``svd``, TIES, DARE).

``linear``, ``ties``, ``dare_linear`` and ``dare_ties`` need equal ranks;
for parents of different ranks their SVD variants are used instead, which
re-factor the merged update at the larger rank. ``learned_merge`` fits one
coefficient per parent and module instead.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import Examples, _loss
from continuum_academy.lab.weights import LoraWeights, concat

SAME_RANK_ONLY = {
    "linear": "svd",
    "ties": "ties_svd",
    "dare_linear": "dare_linear_svd",
    "dare_ties": "dare_ties_svd",
}


def merge(
    lab: Lab,
    parents: Sequence[LoraWeights],
    weights: Sequence[float],
    combination: str = "ties",
    density: float = 0.5,
    seed: int = 0,
) -> LoraWeights:
    """The parents merged by peft; ``seed`` fixes DARE's random drops, so a
    crossover can be rerun exactly whatever ran before it (peft draws them
    from torch's global generator; the drops' draws are forked off it)."""
    import torch
    from peft import (
        LoraConfig,
        get_peft_model,
        set_peft_model_state_dict,
    )

    if len(parents) < 2 or len(parents) != len(weights):
        raise ValueError("a merge needs two or more parents, each with a weight")
    ranks = {p.rank for p in parents}
    if len(ranks) > 1 and combination in SAME_RANK_ONLY:
        combination = SAME_RANK_ONLY[combination]
    targets = sorted({t for p in parents for t in p.target_modules})
    names = [f"parent{i}" for i in range(len(parents))]
    with lab.lock:
        model: Any = None
        try:
            for name, parent in zip(names, parents, strict=True):
                config = LoraConfig(
                    r=parent.rank,
                    lora_alpha=round(parent.alpha),
                    target_modules=targets,
                    lora_dropout=0.0,
                )
                if model is None:
                    model = get_peft_model(lab.model, config, adapter_name=name)
                else:
                    model.add_adapter(name, config)
                set_peft_model_state_dict(model, parent.tensors, adapter_name=name)
            extra: dict[str, Any] = {}
            if combination.startswith(("ties", "dare")):
                extra["density"] = density
            if combination.endswith("svd") or combination == "svd":
                extra["svd_rank"] = max(ranks)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model.add_weighted_adapter(
                    names, list(weights), "child", combination_type=combination, **extra
                )
            return LoraWeights.from_peft(model, "child")
        finally:
            if model is not None:
                lab.unwrap(model)


def learned_merge(
    lab: Lab,
    parents: Sequence[LoraWeights],
    sources: Sequence[Examples],
    *,
    steps: int = 150,
    learning_rate: float = 0.02,
    batch: int = 16,
    seed: int = 0,
    under: LoraWeights | None = None,
    per_direction: bool = False,
) -> LoraWeights:
    """The parents' exact sum with one learned coefficient per parent and module
    (``per_direction``: per rank-one direction of each parent's update).

    LoRA Soups' CAT, and what Sakana's evolutionary merging searches: every
    module of the child is Σ c·update of each parent, the coefficients (a
    few dozen numbers; the layers stay frozen) fitted to the parents' skills'
    train examples, one batch of each source a step. A module that would
    carry one parent's skill into the other's is turned down where a single
    weight for the whole layer cannot. ``under``: the parents were trained
    over this frozen layer (their shared ancestor), which stays beneath.
    """
    import torch
    import torch.nn.utils.parametrize as parametrize
    from peft.tuners.lora import LoraLayer

    if len(parents) < 2 or not sources:
        raise ValueError("a learned merge needs two or more parents and examples to fit on")
    ranks = [p.rank for p in parents]

    class Coefficients(torch.nn.Module):
        """Scales each parent's block of a module's B (its columns)."""

        def __init__(self) -> None:
            super().__init__()
            size = sum(ranks) if per_direction else len(ranks)
            self.c = torch.nn.Parameter(torch.full((size,), 1.0 / len(ranks)))

        def forward(self, up: Any) -> Any:
            if per_direction:
                return up * self.c
            return up * torch.cat([self.c[i].expand(r) for i, r in enumerate(ranks)])

    summed = concat([(p, 1.0) for p in parents])
    with lab.lock:
        model = lab.wrap(summed, trainable=True, under=under)
        try:
            for param in model.parameters():
                param.requires_grad_(False)
            layers = [
                m for m in model.modules() if isinstance(m, LoraLayer) and "default" in m.lora_B
            ]
            scales = [Coefficients() for _ in layers]
            for layer, scale in zip(layers, scales, strict=True):
                parametrize.register_parametrization(layer.lora_B["default"], "weight", scale)
            optimizer = torch.optim.Adam([s.c for s in scales], lr=learning_rate)
            model.train()
            for step in range(steps):
                rng = random.Random(seed * 1_000_003 + step)
                loss = sum(_loss(model, lab, source.batch(rng, batch)) for source in sources)
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
            for layer in layers:  # the coefficients baked into B
                parametrize.remove_parametrizations(layer.lora_B["default"], "weight")
            model.eval()
            return LoraWeights.from_peft(model)
        finally:
            lab.unwrap(model)
