"""Layer weights fetched from the registry, checked before anything is loaded.

The sha256 of the bytes must be the manifest's, the manifest's signature
must verify for its creator, and the bytes must be a well-formed safetensors
file (never a pickle). Only then are the tensors read, by safetensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from continuum.events.genome import LayerPublished
from continuum.genome import LayerError, read_header, sha256_hex, verify_manifest


@dataclass(frozen=True)
class LayerWeights:
    sha256: str
    ref: str
    config: dict[str, Any]
    tensors: dict[str, Any]  # name -> torch.Tensor on the CPU
    nbytes: int


def decode_layer(data: bytes, published: LayerPublished) -> LayerWeights:
    manifest = published.manifest
    actual = sha256_hex(data)
    if actual != manifest.sha256:
        raise LayerError(
            f"layer {manifest.ref}: hash mismatch (fetched {actual}, manifest says "
            f"{manifest.sha256}); not loaded"
        )
    verify_manifest(manifest, published.signature)
    read_header(data)  # refuses pickles and truncated files before safetensors sees them
    from safetensors.torch import load

    tensors = load(data)
    nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
    return LayerWeights(
        manifest.sha256, manifest.ref, dict(manifest.adapter_config), tensors, nbytes
    )
