"""The genome context folded into memory: layers, their versions and lineage,
and the base models nodes serve.

The registry folds it to validate and answer queries; persona-runtime folds
it to resolve a persona's genome (``latest`` -> a version, a version -> the
sha256 and signed manifest it must fetch and verify).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from continuum.events.genome import BaseModelRegistered, LayerPublished
from continuum.genome.errors import LayerError, LayerNotFound
from continuum.genome.refs import split_ref


@dataclass
class LayerRecord:
    layer_id: str
    creator: str
    #: Stream sequence of the aggregate's last event (for optimistic concurrency).
    seq: int = 0
    #: Versions in publication order; "latest" is the last one.
    versions: dict[str, LayerPublished] = field(default_factory=dict)

    @property
    def latest(self) -> LayerPublished:
        return next(reversed(self.versions.values()))


@dataclass
class Lineage:
    layer: str
    ancestors: list[tuple[str, str]]  # (child ref, parent ref) edges, nearest first
    descendants: list[tuple[str, str]]  # (parent ref, child ref) edges


class LayerCatalog:
    def __init__(self) -> None:
        self.layers: dict[str, LayerRecord] = {}
        self.base_models: dict[str, BaseModelRegistered] = {}
        self._children: dict[str, list[str]] = {}  # parent ref -> child refs
        self.by_sha: dict[str, list[str]] = {}  # weights sha256 -> refs

    def apply(self, aggregate_id: str, payload: object, seq: int = 0) -> None:
        if isinstance(payload, LayerPublished):
            manifest = payload.manifest
            record = self.layers.setdefault(
                aggregate_id, LayerRecord(aggregate_id, manifest.creator)
            )
            record.versions[manifest.version] = payload
            record.seq = max(record.seq, seq)
            for parent in manifest.parents:
                self._children.setdefault(parent, []).append(manifest.ref)
            self.by_sha.setdefault(manifest.sha256, []).append(manifest.ref)
        elif isinstance(payload, BaseModelRegistered):
            self.base_models[payload.base_model] = payload

    def get(self, layer_id: str) -> LayerRecord | None:
        return self.layers.get(layer_id)

    def resolve(self, layer_id: str, version: str = "latest") -> LayerPublished:
        record = self.layers.get(layer_id)
        if record is None:
            raise LayerNotFound(f"unknown layer {layer_id!r}")
        if version == "latest":
            return record.latest
        published = record.versions.get(version)
        if published is None:
            known = ", ".join(record.versions)
            raise LayerNotFound(
                f"layer {layer_id!r} has no version {version!r} (versions: {known})"
            )
        return published

    def lineage(self, layer_id: str, version: str = "latest") -> Lineage:
        start = self.resolve(layer_id, version).manifest.ref
        ancestors: list[tuple[str, str]] = []
        seen = {start}
        frontier = [start]
        while frontier:
            ref = frontier.pop(0)
            try:
                parents = self.resolve(*split_ref(ref)).manifest.parents
            except LayerError:
                continue  # a parent from elsewhere (not on this node's log)
            for parent in parents:
                ancestors.append((ref, parent))
                if parent not in seen:
                    seen.add(parent)
                    frontier.append(parent)
        descendants: list[tuple[str, str]] = []
        frontier = [start]
        while frontier:
            ref = frontier.pop(0)
            for child in self._children.get(ref, []):
                descendants.append((ref, child))
                if child not in seen:
                    seen.add(child)
                    frontier.append(child)
        return Lineage(start, ancestors, descendants)
