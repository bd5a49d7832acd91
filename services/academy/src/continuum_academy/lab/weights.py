"""LoRA weights as plain tensors: combine exactly, perturb, save as a peft directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    import torch
    from peft import LoraConfig, PeftModel

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


@dataclass
class LoraWeights:
    """peft's LoRA state dict (keys without the adapter name) and its shape.

    ``scale`` multiplies every update (alpha / rank in peft's terms).
    """

    tensors: dict[str, torch.Tensor]
    rank: int
    alpha: float
    target_modules: list[str]

    @classmethod
    def from_peft(cls, model: PeftModel, adapter: str = "default") -> LoraWeights:
        """A copy of one adapter's weights and shape out of a peft model."""
        from peft import get_peft_model_state_dict

        state = get_peft_model_state_dict(model, adapter_name=adapter, save_embedding_layers=False)
        config = cast("LoraConfig", model.peft_config[adapter])
        targets = config.target_modules  # a set of names once peft has applied it
        return cls(
            {k: v.detach().clone() for k, v in state.items()},
            int(config.r),
            float(config.lora_alpha),
            [targets] if isinstance(targets, str) else sorted(targets or ()),
        )

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors.values())

    def fingerprint(self) -> str:
        """A digest of the exact weights and shape: one gene, wherever it is
        inherited (a saved and loaded layer keeps its fingerprint)."""
        import hashlib

        import torch

        digest = hashlib.sha256(f"{self.rank}:{self.alpha}:{sorted(self.target_modules)}".encode())
        for key in sorted(self.tensors):
            tensor = self.tensors[key].detach().contiguous().cpu()
            digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())  # bf16 too
        return digest.hexdigest()[:24]

    def modules(self) -> list[str]:
        return sorted({k.rsplit(".lora_", 1)[0] for k in self.tensors})

    def clone(self) -> LoraWeights:
        return LoraWeights(
            {k: v.detach().clone() for k, v in self.tensors.items()},
            self.rank,
            self.alpha,
            list(self.target_modules),
        )

    def adapter_config(self, base_model_path: str = "") -> dict[str, object]:
        return {
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model_path,
            "r": self.rank,
            "lora_alpha": self.alpha,
            "lora_dropout": 0.0,
            "bias": "none",
            "target_modules": sorted(self.target_modules),
            "fan_in_fan_out": False,
            "inference_mode": True,
        }

    def save(self, directory: Path, base_model_path: str = "") -> Path:
        from safetensors.torch import save_file

        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / (ADAPTER_WEIGHTS + ".tmp")
        save_file({k: v.contiguous() for k, v in self.tensors.items()}, str(tmp))
        tmp.replace(directory / ADAPTER_WEIGHTS)
        config = json.dumps(self.adapter_config(base_model_path), indent=2) + "\n"
        (directory / ADAPTER_CONFIG).write_text(config)
        return directory


def load(directory: Path) -> LoraWeights:
    """A peft LoRA directory (safetensors only; pickles are never read)."""
    from safetensors.torch import load_file

    config = json.loads((directory / ADAPTER_CONFIG).read_text())
    tensors = load_file(str(directory / ADAPTER_WEIGHTS))
    targets = config.get("target_modules") or []
    return LoraWeights(tensors, int(config["r"]), float(config["lora_alpha"]), sorted(targets))


def concat(stack: list[tuple[LoraWeights, float]]) -> LoraWeights:
    """One LoRA whose update is exactly Σ weight·update of the stack (peft's ``cat``).

    A's are stacked along the rank, each scaled by weight·alpha/rank; the
    result has alpha = rank, i.e. scale 1.
    """
    import torch

    if not stack:
        raise ValueError("an empty stack has no weights")
    if len(stack) == 1 and stack[0][1] == 1.0:
        return stack[0][0]
    modules = sorted({m for layer, _ in stack for m in layer.modules()})
    tensors: dict[str, torch.Tensor] = {}
    rank = sum(layer.rank for layer, _ in stack)
    for module in modules:
        a_parts, b_parts = [], []
        for layer, weight in stack:
            a = layer.tensors.get(f"{module}.lora_A.weight")
            b = layer.tensors.get(f"{module}.lora_B.weight")
            if a is None or b is None:
                reference = next(x for x, _ in stack if f"{module}.lora_A.weight" in x.tensors)
                a_shape = reference.tensors[f"{module}.lora_A.weight"].shape
                b_shape = reference.tensors[f"{module}.lora_B.weight"].shape
                a = torch.zeros(layer.rank, a_shape[1])
                b = torch.zeros(b_shape[0], layer.rank)
            a_parts.append(a * (weight * layer.alpha / layer.rank))
            b_parts.append(b)
        tensors[f"{module}.lora_A.weight"] = torch.cat(a_parts, dim=0)
        tensors[f"{module}.lora_B.weight"] = torch.cat(b_parts, dim=1)
    targets = sorted({t for layer, _ in stack for t in layer.target_modules})
    return LoraWeights(tensors, rank, float(rank), targets)


def perturb(weights: LoraWeights, sigma: float, seed: int) -> LoraWeights:
    """Gaussian noise relative to each tensor's own scale: a mutation."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    out = weights.clone()
    for key, tensor in out.tensors.items():
        scale = float(tensor.std()) if tensor.numel() > 1 else 0.0
        if scale == 0.0:
            continue
        noise = torch.randn(tensor.shape, generator=generator, dtype=tensor.dtype)
        out.tensors[key] = tensor + sigma * scale * noise
    return out


def rerank(weights: LoraWeights, rank: int) -> LoraWeights:
    """The same update re-factored at ``rank`` (a mutation of the rank).

    Each module's update scale·B·A is factored by SVD: a lower rank keeps its
    largest directions (the best approximation); a higher rank keeps the
    update exactly and adds directions with zero weight, room for training.
    """
    import torch

    if rank < 1:
        raise ValueError("rank must be at least 1")
    scale = weights.alpha / weights.rank
    tensors: dict[str, torch.Tensor] = {}
    for module in weights.modules():
        a = weights.tensors[f"{module}.lora_A.weight"].float()
        b = weights.tensors[f"{module}.lora_B.weight"].float()
        u, s, vh = torch.linalg.svd(scale * (b @ a), full_matrices=False)
        keep = min(rank, s.shape[0])
        root = s[:keep].sqrt()
        new_b = torch.zeros(b.shape[0], rank)
        new_a = torch.zeros(rank, a.shape[1])
        new_b[:, :keep] = u[:, :keep] * root
        new_a[:keep] = root[:, None] * vh[:keep]
        tensors[f"{module}.lora_A.weight"] = new_a.to(a.dtype)
        tensors[f"{module}.lora_B.weight"] = new_b.to(b.dtype)
    return LoraWeights(tensors, rank, float(rank), list(weights.target_modules))
