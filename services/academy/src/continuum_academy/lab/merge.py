"""Crossover: two (or more) layers merged into one with peft's
``add_weighted_adapter`` (weighted ``cat``, ``linear``/``svd``, TIES, DARE).

``linear``, ``ties``, ``dare_linear`` and ``dare_ties`` need equal ranks;
for parents of different ranks their SVD variants are used instead, which
re-factor the merged update at the larger rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from continuum_academy.lab.model import Lab
from continuum_academy.lab.weights import LoraWeights

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
) -> LoraWeights:
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
            model.add_weighted_adapter(
                names, list(weights), "child", combination_type=combination, **extra
            )
            return LoraWeights.from_peft(model, "child")
        finally:
            if model is not None:
                lab.unwrap(model)
