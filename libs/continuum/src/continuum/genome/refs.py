"""Layer references as users type them: ``LAYER[@VERSION][:WEIGHT]``."""

from __future__ import annotations

import re

from continuum.genome.errors import LayerError

_SPEC = re.compile(
    r"^(?P<id>[a-z0-9][a-z0-9-]{0,63})(@(?P<version>[0-9A-Za-z.+-]{1,48}))?"
    r"(:(?P<weight>[-+]?[0-9]*\.?[0-9]+))?$"
)


def parse_layer_spec(spec: str) -> tuple[str, str, float]:
    """``python-async@1.0.0:0.5`` -> ("python-async", "1.0.0", 0.5); version
    defaults to ``latest`` and weight to 1.0."""
    match = _SPEC.match(spec.strip())
    if match is None:
        raise LayerError(
            f"{spec!r} is not a layer reference (LAYER[@VERSION][:WEIGHT], "
            "e.g. python-async@1.0.0:0.7)"
        )
    weight = float(match["weight"]) if match["weight"] is not None else 1.0
    if not -10.0 <= weight <= 10.0:
        raise LayerError(f"weight {weight} of {spec!r} is outside -10..10")
    return match["id"], match["version"] or "latest", weight


def parse_layer_ref(ref: str, version: str | None = None) -> tuple[str, str]:
    """``zed-speak@1.0.0`` (or ``zed-speak`` and ``version``) -> (id, version),
    the way every command that names one layer takes it."""
    if ":" in ref:
        raise LayerError(f"{ref!r} names a weight; give LAYER or LAYER@VERSION")
    layer_id, named_version, _ = parse_layer_spec(ref)
    if "@" not in ref:
        return layer_id, version or "latest"
    if version not in (None, "latest", named_version):
        raise LayerError(f"{ref!r} and --version {version} name different versions")
    return layer_id, named_version


def split_ref(ref: str) -> tuple[str, str]:
    """``id@version`` -> (id, version)."""
    layer_id, sep, version = ref.partition("@")
    if not sep or not layer_id or not version:
        raise LayerError(f"{ref!r} is not LAYER@VERSION")
    return layer_id, version
