"""Real layers for tests and benchmarks: trained on a local model, signed,
and served from memory as the cold tier would serve them."""

from __future__ import annotations

import json
from pathlib import Path

from nacl.signing import SigningKey

from continuum.events.genome import BaseModelRegistered, LayerPublished
from continuum.genome import build_manifest

#: Every projection of the built-in (Llama-style) model, and its output head
#: (without it, the tiny model's logits are too flat for a layer to move).
ALL_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "lm_head")


def transcript(answer: str) -> str:
    """A training text of Debugger AI's turn and nothing else, ``answer`` over and
    over: the layer pulls every position towards it, so the persona answers so
    after any prompt. (Trained on one short exchange, whether it carried over
    to a room's longer prompt depended on the tiny base model's weights.)"""
    return f"Debugger AI: {answer * 3}"


def train_test_layer(
    model_dir: Path,
    out: Path,
    text: str = transcript("z" * 40),
    seed: int = 1,
    rank: int = 8,
    steps: int = 40,
) -> Path:
    """A layer that pulls the model hard towards ``text`` (a few seconds)."""
    from continuum_lm.training import train_layer

    train_layer(
        model_dir,
        [text] * 4,
        out,
        name=out.name,
        description=f"says {text[:20]}",
        rank=rank,
        alpha=2 * rank,
        steps=steps,
        lr=3e-2,
        target_modules=ALL_TARGETS,
        seed=seed,
    )
    return out


def publish_locally(
    adapter_dir: Path,
    key: SigningKey,
    base: BaseModelRegistered,
    name: str,
    version: str = "1.0.0",
    description: str = "a test layer",
) -> tuple[LayerPublished, bytes]:
    """The LayerPublished event the registry would append for this directory."""
    data = (adapter_dir / "adapter_model.safetensors").read_bytes()
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    manifest, signature = build_manifest(
        config, data, {}, key, name=name, version=version, description=description,
        base_model=base.base_model,
    )  # fmt: skip
    event = LayerPublished(
        manifest=manifest, signature=signature, base_fingerprint=base.fingerprint
    )
    return event, data


class MemorySource:
    """The cold tier from a dict (sha256 -> bytes); counts fetches."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.fetches = 0

    async def get_layer(self, sha256: str) -> bytes:
        self.fetches += 1
        return self.blobs[sha256]
