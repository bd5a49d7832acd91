"""Describing the base model a backend serves, for the registry's shape checks."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from continuum.events.genome import BaseModelRegistered, ModuleShape


def base_model_id(kind: str, model_dir: Path) -> str:
    """``builtin`` for the node's own model; a slug of the directory otherwise."""
    if kind == "builtin":
        return "builtin"
    return re.sub(r"[^a-z0-9]+", "-", model_dir.name.lower()).strip("-")[:64] or "model"


def describe_base(model: Any, model_dir: Path, base_id: str) -> BaseModelRegistered:
    """Call before any adapter is injected: every nn.Linear and its shape."""
    import torch

    modules = [
        ModuleShape(name=name, in_features=m.in_features, out_features=m.out_features)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear)
    ]
    config = json.loads((model_dir / "config.json").read_text())
    config.pop("_name_or_path", None)
    config.pop("transformers_version", None)
    doc = json.dumps([config, [m.model_dump() for m in modules]], sort_keys=True)
    return BaseModelRegistered(
        base_model=base_id,
        fingerprint=hashlib.sha256(doc.encode()).hexdigest()[:16],
        architecture=", ".join(config.get("architectures", [])),
        modules=modules,
    )
