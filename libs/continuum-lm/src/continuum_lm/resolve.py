"""A persona's genome, resolved: which exact layer versions, with which weights.

``latest`` is resolved when the genome is used, so a new version of a layer
reaches the persona at its next turn. The genome's key hashes the resolved
layers (by the sha256 of their weights) and the combination: two personas
with the same genome share one assembled adapter in the cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from continuum.events.genome import LayerPublished
from continuum.events.persona import ActiveLayer, GenomeLayerRef
from continuum.genome import LayerCatalog


@dataclass(frozen=True)
class ResolvedLayer:
    layer_id: str
    version: str
    weight: float
    published: LayerPublished = field(compare=False, repr=False)

    @property
    def sha256(self) -> str:
        return self.published.manifest.sha256

    @property
    def ref(self) -> str:
        return f"{self.layer_id}@{self.version}"


@dataclass(frozen=True)
class Genome:
    layers: tuple[ResolvedLayer, ...] = ()
    combination: str = "cat"

    @property
    def key(self) -> str:
        doc = [self.combination, [(lay.ref, lay.sha256, lay.weight) for lay in self.layers]]
        return hashlib.sha256(json.dumps(doc).encode()).hexdigest()[:20]

    @property
    def single(self) -> bool:
        """One layer at weight 1: served by that layer's own adapter, nothing to assemble."""
        return len(self.layers) == 1 and self.layers[0].weight == 1.0

    def active(self) -> list[ActiveLayer]:
        return [ActiveLayer(layer=lay.ref, weight=lay.weight) for lay in self.layers]


EMPTY = Genome()


def resolve_genome(refs: list[GenomeLayerRef], combination: str, catalog: LayerCatalog) -> Genome:
    """Raises LayerError naming an unknown layer or version."""
    layers = []
    for ref in refs:
        published = catalog.resolve(ref.layer_id, ref.version)
        layers.append(
            ResolvedLayer(ref.layer_id, published.manifest.version, ref.weight, published)
        )
    return Genome(tuple(layers), combination)
