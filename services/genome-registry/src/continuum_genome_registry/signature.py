"""A data-free signature of a layer's weights, for spotting near-duplicates.

A LoRA layer changes each targeted module by ΔW = s·B·A (s = alpha/r). Two
layers do the same thing when their ΔW point the same way, so the signature
is a random sketch of all ΔW at once: for every module, Gₒ·ΔW·Gᵢᵀ with
Gaussian matrices seeded by the module's name (the same for every layer),
summed over modules into one 16x16 matrix and normalised. Inner products of
sketches approximate the Frobenius inner products of the full updates
(Johnson-Lindenstrauss), so the cosine of two signatures estimates the
cosine of the two layers' updates without any data, in O(r·(in+out)) per
module: ΔW is never formed. The spectrum (largest singular values of each
ΔW, via QR of the factors) is kept for display: it shows how many
directions a layer really uses.
"""

from __future__ import annotations

import zlib

import numpy as np

from continuum.genome import TensorInfo
from continuum_genome_registry.validation import LoraModule

SKETCH = 16
SIGNATURE_DIM = SKETCH * SKETCH


def _tensor(data: bytes, info: TensorInfo) -> np.ndarray:
    """A tensor of a safetensors file, as float32 (offsets count from the data section)."""
    base = 8 + int.from_bytes(data[:8], "little")
    raw = memoryview(data)[base + info.start : base + info.end]
    dtype, shape = info.dtype, info.shape
    if dtype == "BF16":  # bfloat16 is the top half of a float32
        values = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
    else:
        values = np.frombuffer(raw, dtype="<f4" if dtype == "F32" else "<f2").astype(np.float32)
    return values.reshape(shape)


def _gaussian(module: str, rows: int, cols: int) -> np.ndarray:
    seed = zlib.crc32(f"{module}:{rows}:{cols}".encode())
    return np.random.default_rng(seed).standard_normal((rows, cols)).astype(np.float32)


def scaling(adapter_config: dict[str, object], rank: int) -> float:
    alpha = float(adapter_config.get("lora_alpha", rank))  # type: ignore[arg-type]
    return alpha / (rank**0.5 if adapter_config.get("use_rslora") else rank)


def weight_signature(
    data: bytes, modules: list[LoraModule], scale: float
) -> tuple[np.ndarray, list[float]]:
    """(unit signature of SIGNATURE_DIM floats, top singular values)."""
    sketch = np.zeros((SKETCH, SKETCH), dtype=np.float64)
    singular: list[float] = []
    for module in modules:
        a, b = _tensor(data, module.a), _tensor(data, module.b)
        g_out = _gaussian(module.name + "/out", SKETCH, b.shape[0])
        g_in = _gaussian(module.name + "/in", SKETCH, a.shape[1])
        sketch += scale * (g_out @ b).astype(np.float64) @ (a @ g_in.T).astype(np.float64)
        _, rb = np.linalg.qr(b.astype(np.float64))
        _, ra = np.linalg.qr(a.T.astype(np.float64))
        singular.extend(np.linalg.svd(rb @ ra.T, compute_uv=False) * abs(scale))
    flat = sketch.reshape(-1)
    norm = float(np.linalg.norm(flat))
    signature = (flat / norm if norm > 0 else flat).astype(np.float32)
    return signature, [round(float(s), 6) for s in sorted(singular, reverse=True)[:16]]
