"""LoRA layers as bytes, built with numpy for the registry's tests: any
shape, any damage, without a model."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from nacl.signing import SigningKey
from safetensors.numpy import save

from continuum.events.genome import BaseModelRegistered, ModuleShape
from continuum.genome import build_manifest

HIDDEN, LAYERS = 32, 2
BASE = BaseModelRegistered(
    base_model="builtin",
    fingerprint="f" * 16,
    architecture="LlamaForCausalLM",
    modules=[
        ModuleShape(name=f"model.layers.{i}.self_attn.{p}", in_features=HIDDEN, out_features=HIDDEN)
        for i in range(LAYERS)
        for p in ("q_proj", "v_proj")
    ],
)


def adapter_config(
    rank: int = 4, targets: tuple[str, ...] = ("q_proj", "v_proj")
) -> dict[str, Any]:
    return {
        "peft_type": "LORA",
        "r": rank,
        "lora_alpha": 2 * rank,
        "target_modules": list(targets),
        "lora_dropout": 0.0,
        "bias": "none",
        "task_type": "CAUSAL_LM",
    }


def lora_tensors(
    rank: int = 4, hidden: int = HIDDEN, seed: int = 0, scale: float = 1.0
) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(LAYERS):
        for p in ("q_proj", "v_proj"):
            prefix = f"base_model.model.model.layers.{i}.self_attn.{p}"
            tensors[f"{prefix}.lora_A.weight"] = rng.standard_normal((rank, hidden)).astype(
                np.float32
            )
            tensors[f"{prefix}.lora_B.weight"] = (
                scale * rng.standard_normal((hidden, rank))
            ).astype(np.float32)
    return tensors


def weights(**kw: Any) -> bytes:
    return save(lora_tensors(**kw))


def signed(
    data: bytes, key: SigningKey, name: str = "python-async", rank: int = 4, **overrides: Any
) -> tuple[dict[str, Any], str]:
    config = overrides.pop("config", adapter_config(rank))
    manifest, signature = build_manifest(
        config,
        data,
        {"description": "Refactors Python code to async/await", "domains": ["python"]},
        key,
        name=name,
        **overrides,
    )
    return manifest.model_dump(mode="json"), signature


def truncated(data: bytes, cut: int = 10) -> bytes:
    return data[:-cut]


def corrupted_header(data: bytes) -> bytes:
    (length,) = struct.unpack("<Q", data[:8])
    return data[:8] + b"{" * length + data[8 + length :]


def resigned(doc: dict[str, Any], key: SigningKey, **changes: Any) -> tuple[dict[str, Any], str]:
    """The manifest changed and signed again (a publisher lying consistently)."""
    from continuum.events.genome import LayerManifest
    from continuum.genome import sign_manifest

    manifest = LayerManifest.model_validate({**doc, **changes})
    return manifest.model_dump(mode="json"), sign_manifest(manifest, key)
