"""Reading a safetensors file's header without loading anything.

A safetensors file is an 8-byte little-endian header length, a JSON header
(tensor name -> dtype, shape, byte offsets) and the raw tensor bytes. That
is all a layer's validation needs, and it runs no code from the file: a
pickle (``.bin``, ``torch.save``) is recognised by its first bytes and
refused, as is a header that lies about its sizes or a truncated file.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass

from continuum.genome.errors import LayerError

MAX_HEADER_BYTES = 16 * 1024 * 1024
DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
    "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int


def _looks_like_pickle(data: bytes) -> bool:
    # torch.save writes a zip archive; plain pickles start with PROTO (0x80).
    return data[:4] == b"PK\x03\x04" or (len(data) > 1 and data[0] == 0x80 and data[1] <= 5)


def read_header(data: bytes) -> dict[str, TensorInfo]:
    """Tensor name -> TensorInfo; LayerError naming the problem otherwise."""
    if _looks_like_pickle(data):
        raise LayerError(
            "the weights are a pickle (a PyTorch .bin/.pt file), not safetensors: "
            "Continuum never loads pickled weights; save the adapter with "
            "save_pretrained(..., safe_serialization=True)"
        )
    if len(data) < 8:
        raise LayerError(f"the weights are not safetensors: {len(data)} bytes is too short")
    (length,) = struct.unpack("<Q", data[:8])
    if length > MAX_HEADER_BYTES or 8 + length > len(data):
        raise LayerError(
            f"the weights are not safetensors, or are truncated: the header claims "
            f"{length} bytes but the file has {len(data) - 8} after the length"
        )
    try:
        header = json.loads(data[8 : 8 + length])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LayerError(f"the safetensors header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise LayerError("the safetensors header is not a JSON object")
    body = len(data) - 8 - length
    tensors: dict[str, TensorInfo] = {}
    end_max = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor(name, entry)
        end_max = max(end_max, tensors[name].end)
    if not tensors:
        raise LayerError("the safetensors file holds no tensors")
    if end_max != body:
        raise LayerError(
            f"the safetensors file is truncated or corrupted: its tensors need {end_max} "
            f"bytes of data, the file has {body}"
        )
    return tensors


def _tensor(name: str, entry: object) -> TensorInfo:
    if not isinstance(entry, dict):
        raise LayerError(f"tensor {name!r}: header entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise LayerError(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise LayerError(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise LayerError(f"tensor {name!r}: bad data_offsets {offsets!r}")
    expected = math.prod(shape) * DTYPE_BYTES[dtype]
    if offsets[1] - offsets[0] != expected:
        raise LayerError(
            f"tensor {name!r}: {offsets[1] - offsets[0]} bytes for a {dtype} tensor of "
            f"shape {shape} (needs {expected})"
        )
    return TensorInfo(dtype, tuple(shape), offsets[0], offsets[1])
