"""Publishing, forking and finding layers: the registry's use cases.

It talks to the world through four small ports (the blob store, the event
log, the search index, the embedder) so that it reads as the sequence of
checks and writes a publish is:

1. validate everything (manifest, signature, weights, shapes): nothing is
   written before every check passed;
2. compute the weight signature and look for near-duplicates;
3. store the weights content-addressed (a no-op if identical weights exist);
4. append ``LayerPublished`` with optimistic concurrency: two publishers of
   the same version cannot both win, and until this event exists the layer
   is invisible (weights stored at step 3 without an event are orphans,
   never half a layer);
5. index the layer for search (re-done on start if a crash came between).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from continuum.events.genome import LayerManifest, LayerPublished, NearDuplicate
from continuum.genome import LayerCatalog, LayerError, LayerNotFound, split_ref
from continuum_genome_registry import validation
from continuum_genome_registry.index import WEIGHTS, Hit, LayerIndex, LayerPoint, Query
from continuum_genome_registry.signature import SIGNATURE_DIM, scaling, weight_signature


class Conflict(LayerError):
    status = 409


class Forbidden(LayerError):
    status = 403


class Blobs(Protocol):
    async def has_layer(self, sha256: str) -> bool: ...
    async def get_layer(self, sha256: str) -> bytes: ...
    async def put_layer(self, sha256: str, data: bytes) -> None: ...
    async def has_upload(self, sha256: str) -> bool: ...
    async def get_upload(self, sha256: str) -> bytes: ...
    async def delete_upload(self, sha256: str) -> None: ...


#: Appends an event to a layer's subject at an expected version; returns its sequence.
Append = Callable[[str, LayerPublished, int], Awaitable[int]]
Embed = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class SearchResult:
    layer: LayerPublished
    score: float


def capability_text(manifest: LayerManifest) -> str:
    """What gets embedded: the name, the description and the domains."""
    domains = f" Domains: {', '.join(manifest.domains)}." if manifest.domains else ""
    return f"{manifest.name.replace('-', ' ')}: {manifest.description}{domains}"


class GenomeRegistry:
    def __init__(
        self,
        catalog: LayerCatalog,
        blobs: Blobs,
        index: LayerIndex,
        embed: Embed,
        append: Append,
        limits: validation.Limits,
        near_duplicate_threshold: float = 0.95,
    ) -> None:
        self.catalog, self.blobs, self.index = catalog, blobs, index
        self.embed, self.append, self.limits = embed, append, limits
        self.threshold = near_duplicate_threshold

    async def publish(
        self, manifest_doc: Any, signature: str, forked_from: str | None = None
    ) -> tuple[LayerPublished, int]:
        manifest = validation.validate_manifest(manifest_doc, signature)
        record = self.catalog.get(manifest.name)
        if record is not None:
            if manifest.version in record.versions:
                raise Conflict(f"layer {manifest.ref} is already published")
            if record.creator != manifest.creator:
                raise Forbidden(
                    f"layer {manifest.name!r} belongs to creator {record.creator[:12]}…; "
                    "publish under another name, or fork it"
                )
        for parent in manifest.parents:
            try:
                self.catalog.resolve(*split_ref(parent))
            except LayerError:
                raise LayerError(f"parent {parent!r} is not a published layer@version") from None
        data = await self._weights(manifest.sha256)
        base, modules = await asyncio.to_thread(
            validation.validate_weights, manifest, data, self.catalog.base_models, self.limits
        )
        vector, spectrum = await asyncio.to_thread(
            weight_signature, data, modules, scaling(manifest.adapter_config, manifest.rank)
        )
        near = await asyncio.to_thread(
            self.index.search,
            Query(
                vector,
                k=8,
                base_model=manifest.base_model,
                min_score=self.threshold,
                exclude=frozenset({manifest.name}),
            ),
            WEIGHTS,
        )
        await self.blobs.put_layer(manifest.sha256, data)
        event = LayerPublished(
            manifest=manifest,
            signature=signature,
            base_fingerprint=base.fingerprint,
            spectrum=spectrum,
            near_duplicates=[
                NearDuplicate(
                    layer=f"{h.layer_id}@{h.version}", similarity=round(min(h.score, 1.0), 4)
                )
                for h in near
            ],
            forked_from=forked_from,
        )
        expected = record.seq if record is not None else 0
        seq = await self.append(manifest.name, event, expected)
        await self.index_layers([(event, vector)])
        await self.blobs.delete_upload(manifest.sha256)
        return event, seq

    async def fork(
        self, source: str, manifest_doc: Any, signature: str
    ) -> tuple[LayerPublished, int]:
        """A new layer with the same weights and the source as its parent,
        signed by whoever forks it."""
        layer_id, version = split_ref(source) if "@" in source else (source, "latest")
        try:
            origin = self.catalog.resolve(layer_id, version)
        except LayerError as exc:
            raise LayerNotFound(str(exc)) from None
        manifest = validation.parse_manifest(manifest_doc)
        if origin.manifest.ref not in manifest.parents:
            raise LayerError(f"a fork of {origin.manifest.ref} must name it among its parents")
        if manifest.sha256 != origin.manifest.sha256:
            raise LayerError(
                "a fork has its source's weights (sha256 differs); publish new weights instead"
            )
        return await self.publish(manifest_doc, signature, forked_from=origin.manifest.ref)

    async def _weights(self, sha256: str) -> bytes:
        if await self.blobs.has_layer(sha256):
            return await self.blobs.get_layer(sha256)
        if await self.blobs.has_upload(sha256):
            return await self.blobs.get_upload(sha256)
        raise LayerError(
            f"no weights with sha256 {sha256} were uploaded (PUT /v1/genome/blobs/{sha256} first)"
        )

    # -- search ------------------------------------------------------------------

    async def index_layers(self, items: Sequence[tuple[LayerPublished, np.ndarray | None]]) -> None:
        """Embed and index layers (their latest versions); a missing weight
        signature is recomputed from the stored weights."""
        if not items:
            return
        texts = [capability_text(event.manifest) for event, _ in items]
        vectors = await asyncio.to_thread(self.embed, texts)
        points = []
        for (event, signature), text_vector in zip(items, vectors, strict=True):
            m = event.manifest
            if signature is None:
                signature = await self._signature_of(event)
            points.append(
                LayerPoint(
                    m.name, m.version, m.base_model, tuple(m.domains), text_vector, signature
                )
            )
        await asyncio.to_thread(self.index.upsert, points)

    async def _signature_of(self, event: LayerPublished) -> np.ndarray:
        data = await self.blobs.get_layer(event.manifest.sha256)
        base = self.catalog.base_models.get(event.manifest.base_model)
        if base is None:  # the base model was re-registered with other shapes
            return np.zeros(SIGNATURE_DIM, dtype=np.float32)
        modules = validation.check_tensors(event.manifest, data, base, self.limits)
        vector, _ = weight_signature(
            data, modules, scaling(event.manifest.adapter_config, event.manifest.rank)
        )
        return vector

    async def reconcile(self) -> int:
        """Index what the log has and the index lacks (after a crash, or a new
        Qdrant). Returns how many layers were (re)indexed."""
        indexed = await asyncio.to_thread(self.index.indexed_versions)
        stale = [
            (record.latest, None)
            for record in self.catalog.layers.values()
            if indexed.get(record.layer_id) != record.latest.manifest.version
        ]
        for start in range(0, len(stale), 256):
            await self.index_layers(stale[start : start + 256])
        return len(stale)

    async def search(
        self,
        text: str,
        k: int = 10,
        base_model: str | None = None,
        domain: str | None = None,
        min_score: float = -1.0,
    ) -> list[SearchResult]:
        vector = (await asyncio.to_thread(self.embed, [text]))[0]
        hits = await asyncio.to_thread(
            self.index.search, Query(vector, k, base_model, domain, min_score)
        )
        return [r for r in (self._result(h) for h in hits) if r is not None]

    def _result(self, hit: Hit) -> SearchResult | None:
        try:
            return SearchResult(self.catalog.resolve(hit.layer_id, hit.version), hit.score)
        except LayerError:
            return None
