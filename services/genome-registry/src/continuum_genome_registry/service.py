"""The genome-registry service, wired to NATS, the object store, Qdrant and Postgres.

Endpoints (``cmd.genome-registry.<op>``): publish, fork, list, show, search,
lineage, manifest. Weights arrive in the uploads bucket (the gateway puts
them there); the registry is the only writer of the layers bucket and of
``evt.genome.layer.*``. It folds the genome context on start (replay, then
follow), re-indexes whatever the search index lacks, and keeps the
layer-usage read model in its Postgres schema.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient

from continuum.contracts import command
from continuum.events.genome import LayerPublished
from continuum.genome import LayerCatalog, LayerError
from continuum.genome.blobs import LayerBlobs
from continuum.projections import Projection
from continuum.runtime import RequestError, Service, ServiceContext
from continuum.runtime.commands import as_object
from continuum.runtime.follow import LogFollower
from continuum.store import ConcurrencyError
from continuum.store.base import StoredEvent
from continuum_genome_registry import validation
from continuum_genome_registry.index import LayerIndex, LocalIndex, QdrantIndex
from continuum_genome_registry.registry import GenomeRegistry
from continuum_genome_registry.settings import GenomeSettings
from continuum_genome_registry.usage import SCHEMA, LayerUsageProjection, usage_of
from continuum_genome_registry.views import describe_layer, describe_version

log = logging.getLogger("continuum.genome")


def open_index(settings: GenomeSettings, home: Path) -> LayerIndex:
    if settings.qdrant_url:
        api_key = settings.qdrant_api_key.get_secret_value() or None
        client = QdrantClient(url=settings.qdrant_url, api_key=api_key, timeout=10)
        return QdrantIndex(client, settings.collection)
    path = home / "genome" / "qdrant"
    path.mkdir(parents=True, exist_ok=True)
    return LocalIndex(QdrantClient(path=str(path)), settings.collection)


class GenomeRegistryService(Service):
    name = "genome-registry"
    description = "Genome layers: verified publishing, content-addressed storage, search"
    schema = SCHEMA

    def __init__(self) -> None:
        self.settings = GenomeSettings()
        self.catalog = LayerCatalog()
        self._follower: LogFollower | None = None
        self._index: LayerIndex | None = None

    def projections(self) -> Sequence[Projection]:
        return (LayerUsageProjection(),)

    async def on_start(self, ctx: ServiceContext) -> None:
        from continuum.embeddings import Embedder

        s = self.settings
        self._index = await asyncio.to_thread(open_index, s, ctx.settings.home)
        embedder = await asyncio.to_thread(Embedder)

        async def append(layer_id: str, event: LayerPublished, expected: int) -> int:
            result = await ctx.store.append([ctx.factory.new(event, layer_id)], expected)
            return result.version

        self.registry = GenomeRegistry(
            self.catalog,
            LayerBlobs(ctx.nc.jetstream()),
            self._index,
            embedder.encode,
            append,
            validation.Limits(s.max_layer_bytes, s.max_tensors),
            s.near_duplicate_threshold,
        )

        async def fold(stored: StoredEvent, live: bool) -> None:
            self.catalog.apply(stored.event.envelope.subject, stored.event.payload, stored.seq)

        self._follower = ctx.follower("EVT_GENOME", "evt.genome.>", fold)
        await self._follower.start()
        await self._follower.caught_up(timeout=600)
        indexed = await self.registry.reconcile()
        log.info("genome: %d layers, %d re-indexed", len(self.catalog.layers), indexed)
        await self._register_endpoints(ctx)

    async def on_stop(self, ctx: ServiceContext) -> None:
        if self._follower is not None:
            await self._follower.stop()
        if self._index is not None:
            with contextlib.suppress(Exception):
                self._index.close()

    async def _guarded(self, action: Any) -> tuple[LayerPublished, int]:
        try:
            event, seq = await action
        except LayerError as exc:
            raise RequestError(str(exc), getattr(exc, "status", 400)) from None
        except ConcurrencyError:
            raise RequestError("another publish of this layer came first; retry", 409) from None
        assert self._follower is not None
        await self._follower.reached(seq)  # answer with the layer visible
        return event, seq

    def _resolve(self, body: dict[str, Any]) -> LayerPublished:
        layer_id, version = body.get("layer"), body.get("version") or "latest"
        if not isinstance(layer_id, str) or not isinstance(version, str):
            raise RequestError("layer and version must be strings")
        try:
            return self.catalog.resolve(layer_id, version)
        except LayerError as exc:
            raise RequestError(str(exc), 404) from None

    async def _register_endpoints(self, ctx: ServiceContext) -> None:
        registry = self.registry

        async def publish(body: dict[str, Any]) -> dict[str, Any]:
            signature = body.get("signature")
            if not isinstance(signature, str):
                raise RequestError("signature must be a string (the manifest is not signed)")
            event, _ = await self._guarded(registry.publish(body.get("manifest"), signature))
            return describe_version(event)

        async def fork(body: dict[str, Any]) -> dict[str, Any]:
            source, signature = body.get("source"), body.get("signature")
            if not isinstance(source, str) or not isinstance(signature, str):
                raise RequestError("source and signature must be strings")
            event, _ = await self._guarded(registry.fork(source, body.get("manifest"), signature))
            return describe_version(event)

        async def list_(body: dict[str, Any]) -> dict[str, Any]:
            base, domain = body.get("base_model"), body.get("domain")
            limit, offset = body.get("limit", 200), body.get("offset", 0)
            for name, value, top in (("limit", limit, 1000), ("offset", offset, 10**9)):
                if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= top:
                    raise RequestError(f"{name} must be an integer from 0 to {top}")
            matching = [
                record
                for record in self.catalog.layers.values()
                if (not base or record.latest.manifest.base_model == base)
                and (not domain or domain in record.latest.manifest.domains)
            ]
            page = matching[offset : offset + limit]  # a reply stays under NATS' 1 MiB
            return {"layers": [describe_layer(r) for r in page], "count": len(matching)}

        async def show(body: dict[str, Any]) -> dict[str, Any]:
            event = self._resolve(body)
            record = self.catalog.layers[event.manifest.name]
            return {
                **describe_layer(record),
                "version": describe_version(event),
                "usage": await usage_of(ctx.pool, event.manifest.name),
            }

        async def search(body: dict[str, Any]) -> dict[str, Any]:
            query, k = body.get("query"), body.get("k", 10)
            min_score = body.get("min_score", -1.0)
            if not isinstance(query, str) or not query.strip() or len(query) > 2000:
                raise RequestError("query must be a non-empty string of at most 2000 characters")
            if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 100:
                raise RequestError("k must be an integer from 1 to 100")
            if not isinstance(min_score, int | float) or not -1.0 <= min_score <= 1.0:
                raise RequestError("min_score must be a number from -1 to 1")
            filters = {key: body.get(key) for key in ("base_model", "domain")}
            for key, value in filters.items():
                if value is not None and not isinstance(value, str):
                    raise RequestError(f"{key} must be a string")
            results = await registry.search(
                query, k, filters["base_model"], filters["domain"], float(min_score)
            )
            return {
                "query": query,
                "results": [
                    {"score": round(r.score, 4), **describe_version(r.layer)} for r in results
                ],
            }

        async def lineage(body: dict[str, Any]) -> dict[str, Any]:
            event = self._resolve(body)
            tree = self.catalog.lineage(event.manifest.name, event.manifest.version)
            return {
                "layer": tree.layer,
                "ancestors": [{"child": c, "parent": p} for c, p in tree.ancestors],
                "descendants": [{"parent": p, "child": c} for p, c in tree.descendants],
            }

        async def manifest(body: dict[str, Any]) -> dict[str, Any]:
            event = self._resolve(body)
            return {
                "manifest": event.manifest.model_dump(mode="json"),
                "signature": event.signature,
                "base_fingerprint": event.base_fingerprint,
            }

        for op, handler in (
            ("publish", publish),
            ("fork", fork),
            ("list", list_),
            ("show", show),
            ("search", search),
            ("lineage", lineage),
            ("manifest", manifest),
        ):
            await ctx.command(command("genome-registry", op), as_object(handler))
