"""How layers look in replies (JSON for the gateway and the CLI)."""

from __future__ import annotations

from typing import Any

from continuum.events.genome import LayerPublished
from continuum.genome import LayerRecord


def describe_version(event: LayerPublished) -> dict[str, Any]:
    m = event.manifest
    return {
        "id": m.name,
        "version": m.version,
        "ref": m.ref,
        "description": m.description,
        "domains": m.domains,
        "base_model": m.base_model,
        "target_modules": m.target_modules,
        "rank": m.rank,
        "parents": m.parents,
        "license": m.license,
        "sha256": m.sha256,
        "size": m.size,
        "creator": m.creator,
        "forked_from": event.forked_from,
        "spectrum": event.spectrum,
        "near_duplicates": [d.model_dump() for d in event.near_duplicates],
    }


def describe_layer(record: LayerRecord) -> dict[str, Any]:
    latest = record.latest.manifest
    return {
        "id": record.layer_id,
        "latest": latest.version,
        "versions": list(record.versions),
        "description": latest.description,
        "domains": latest.domains,
        "base_model": latest.base_model,
        "rank": latest.rank,
        "size": latest.size,
        "creator": record.creator,
        "parents": latest.parents,
    }
