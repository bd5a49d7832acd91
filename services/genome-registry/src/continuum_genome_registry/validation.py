"""Checking a layer before anything is stored: pure functions, no I/O.

Everything a publisher sends is checked here, in this order, and the first
problem found is the error: the manifest (fields, names without path
components), its signature, the weights' size and sha256, the safetensors
header (never a pickle, never truncated), the adapter config (plain LoRA
only), and every tensor's name and shape against the base model a node
registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from continuum.events.envelope import describe_validation_error
from continuum.events.genome import BaseModelRegistered, LayerManifest
from continuum.genome import LayerError, TensorInfo, read_header, sha256_hex, verify_manifest

_LORA_TENSOR = re.compile(
    r"^base_model\.model\.(?P<module>[A-Za-z0-9_.]+)\.lora_(?P<ab>[AB])\.weight$"
)
_FLOAT_DTYPES = {"F32", "F16", "BF16"}


@dataclass(frozen=True)
class Limits:
    max_layer_bytes: int = 256 * 1024 * 1024
    max_tensors: int = 4096


@dataclass(frozen=True)
class LoraModule:
    """One targeted module: where its A and B matrices are in the file."""

    name: str
    a: TensorInfo
    b: TensorInfo


def parse_manifest(doc: object) -> LayerManifest:
    if not isinstance(doc, dict):
        raise LayerError("the manifest must be a JSON object")
    name = doc.get("name")
    if isinstance(name, str) and ("/" in name or "\\" in name or ".." in name):
        raise LayerError(f"layer name {name!r} must not contain path components ('/', '\\', '..')")
    try:
        return LayerManifest.model_validate(doc)
    except ValidationError as exc:
        raise LayerError(f"invalid manifest: {describe_validation_error(exc)}") from None


def check_weights(manifest: LayerManifest, data: bytes, limits: Limits) -> None:
    if len(data) > limits.max_layer_bytes:
        raise LayerError(
            f"the weights are {len(data)} bytes; the limit is {limits.max_layer_bytes}"
        )
    if len(data) != manifest.size:
        raise LayerError(f"the weights are {len(data)} bytes; the manifest says {manifest.size}")
    actual = sha256_hex(data)
    if actual != manifest.sha256:
        raise LayerError(
            f"hash mismatch: the weights' sha256 is {actual}, the manifest says {manifest.sha256}"
        )


def check_adapter_config(manifest: LayerManifest) -> dict[str, Any]:
    config = manifest.adapter_config
    if config.get("peft_type") != "LORA":
        raise LayerError(
            f"only LoRA layers are supported (peft_type is {config.get('peft_type')!r})"
        )
    if config.get("r") != manifest.rank:
        raise LayerError(
            f"adapter_config r={config.get('r')!r} but the manifest says rank {manifest.rank}"
        )
    alpha = config.get("lora_alpha")
    if not isinstance(alpha, int | float) or isinstance(alpha, bool):
        raise LayerError("adapter_config lora_alpha must be a number")
    for key, what in (
        ("use_dora", "DoRA layers"),
        ("modules_to_save", "modules_to_save (full module copies)"),
        ("rank_pattern", "per-module ranks (rank_pattern)"),
        ("alpha_pattern", "per-module alphas (alpha_pattern)"),
        ("layers_to_transform", "layers_to_transform"),
    ):
        if config.get(key):
            raise LayerError(f"{what} are not supported: a layer holds plain LoRA matrices")
    targets = config.get("target_modules")
    declared = sorted(targets) if isinstance(targets, list) else targets
    if declared != sorted(manifest.target_modules):
        raise LayerError(
            f"adapter_config target_modules {targets!r} differ from the manifest's "
            f"{manifest.target_modules!r}"
        )
    return config


def check_tensors(
    manifest: LayerManifest, data: bytes, base: BaseModelRegistered, limits: Limits
) -> list[LoraModule]:
    """Every tensor is a LoRA A or B matrix of a targeted linear module of the
    base model, with the shapes that module needs."""
    header = read_header(data)
    if len(header) > limits.max_tensors:
        raise LayerError(f"{len(header)} tensors; the limit is {limits.max_tensors}")
    shapes = {m.name: m for m in base.modules}
    targets = set(manifest.target_modules)
    parts: dict[str, dict[str, TensorInfo]] = {}
    for name, info in header.items():
        match = _LORA_TENSOR.match(name)
        if match is None:
            raise LayerError(
                f"tensor {name!r} is not a LoRA matrix (…lora_A.weight / …lora_B.weight)"
            )
        if info.dtype not in _FLOAT_DTYPES:
            raise LayerError(f"tensor {name!r} is {info.dtype}; LoRA matrices are F32, F16 or BF16")
        module = match["module"]
        shape = shapes.get(module)
        if shape is None:
            raise LayerError(
                f"tensor {name!r} targets {module!r}, which is not a linear module of base "
                f"model {base.base_model!r}"
            )
        if module.rsplit(".", 1)[-1] not in targets and module not in targets:
            raise LayerError(f"tensor {name!r} targets {module!r}, not in target_modules")
        r = manifest.rank
        want = (r, shape.in_features) if match["ab"] == "A" else (shape.out_features, r)
        if info.shape != want:
            raise LayerError(
                f"tensor {name!r} has shape {list(info.shape)}; base model {base.base_model!r} "
                f"with rank {r} needs {list(want)}"
            )
        parts.setdefault(module, {})[match["ab"]] = info
    expected = {m for m in shapes if m.rsplit(".", 1)[-1] in targets or m in targets}
    missing = sorted(expected - set(parts))
    if missing:
        raise LayerError(
            f"target_modules match {len(expected)} modules of {base.base_model!r} but the "
            f"weights hold {len(parts)}: {missing[0]!r} has no LoRA matrices"
        )
    modules = []
    for module, ab in sorted(parts.items()):
        if set(ab) != {"A", "B"}:
            raise LayerError(f"module {module!r} has lora_{''.join(ab)} but not both A and B")
        modules.append(LoraModule(module, ab["A"], ab["B"]))
    return modules


def validate_manifest(manifest_doc: object, signature: str) -> LayerManifest:
    manifest = parse_manifest(manifest_doc)
    verify_manifest(manifest, signature)
    return manifest


def validate_weights(
    manifest: LayerManifest,
    data: bytes,
    base_models: dict[str, BaseModelRegistered],
    limits: Limits,
) -> tuple[BaseModelRegistered, list[LoraModule]]:
    """Size, hash, adapter config and tensors; returns what the signature step needs."""
    base = base_models.get(manifest.base_model)
    if base is None:
        known = ", ".join(sorted(base_models)) or "none yet (start a persona-runtime)"
        raise LayerError(f"unknown base model {manifest.base_model!r}; known base models: {known}")
    check_weights(manifest, data, limits)
    check_adapter_config(manifest)
    return base, check_tensors(manifest, data, base, limits)
