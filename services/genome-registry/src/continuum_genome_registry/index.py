"""Layer search: capability text and weight signatures as vectors in Qdrant.

Two adapters behind one small interface:

``QdrantIndex`` asks Qdrant to search (HNSW on a Qdrant server: compose and
Helm run one, ``CONTINUUM_QDRANT_URL`` points at it).

``LocalIndex`` is the embedded default: qdrant-client's local mode keeps the
points on disk under the node home, and the search runs on an in-memory
float32 copy of the vectors (one matrix product, filters as boolean masks).
Local mode's own search is a Python scan: at 100,000 layers it takes about
65 ms, and 1.4 s with a filter; the copy answers exactly the same hits in a
few milliseconds (``make bench`` measures both, ADR 0009).

One point per layer (its latest version), so a search lists layers, not
versions. Point ids are derived from the layer id: re-indexing is idempotent.
"""

from __future__ import annotations

import contextlib
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from qdrant_client import QdrantClient
from qdrant_client import models as qm

from continuum_genome_registry.signature import SIGNATURE_DIM

TEXT_DIM = 384
TEXT, WEIGHTS = "text", "weights"


@dataclass(frozen=True)
class LayerPoint:
    layer_id: str
    version: str
    base_model: str
    domains: tuple[str, ...]
    text: np.ndarray
    weights: np.ndarray

    @property
    def point_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"continuum-layer:{self.layer_id}"))

    def payload(self) -> dict[str, Any]:
        return {
            "layer_id": self.layer_id,
            "version": self.version,
            "base_model": self.base_model,
            "domains": list(self.domains),
        }


@dataclass(frozen=True)
class Hit:
    layer_id: str
    version: str
    score: float


@dataclass(frozen=True)
class Query:
    vector: np.ndarray
    k: int = 10
    base_model: str | None = None
    domain: str | None = None
    min_score: float = -1.0
    exclude: frozenset[str] = field(default_factory=frozenset)


class LayerIndex(Protocol):
    def upsert(self, points: Sequence[LayerPoint]) -> None: ...
    def indexed_versions(self) -> dict[str, str]: ...
    def search(self, query: Query, using: str = TEXT) -> list[Hit]: ...
    def close(self) -> None: ...


def _ensure_collection(client: QdrantClient, name: str) -> None:
    if client.collection_exists(name):
        return
    client.create_collection(
        name,
        vectors_config={
            TEXT: qm.VectorParams(size=TEXT_DIM, distance=qm.Distance.COSINE),
            WEIGHTS: qm.VectorParams(size=SIGNATURE_DIM, distance=qm.Distance.COSINE),
        },
    )
    for key in ("base_model", "domains", "layer_id"):
        # A server indexes payload fields for filtered search; local mode ignores it.
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            client.create_payload_index(name, key, qm.PayloadSchemaType.KEYWORD)


class QdrantIndex:
    """Search delegated to Qdrant (a server, or any qdrant-client)."""

    def __init__(self, client: QdrantClient, collection: str = "genome_layers") -> None:
        self.client, self.collection = client, collection
        _ensure_collection(client, collection)

    def upsert(self, points: Sequence[LayerPoint]) -> None:
        if not points:
            return
        self.client.upsert(
            self.collection,
            points=[
                qm.PointStruct(
                    id=p.point_id,
                    vector={TEXT: p.text.tolist(), WEIGHTS: p.weights.tolist()},
                    payload=p.payload(),
                )
                for p in points
            ],
            wait=True,
        )

    def scroll(self, with_vectors: bool) -> list[Any]:
        records: list[Any] = []
        offset = None
        while True:
            batch, offset = self.client.scroll(
                self.collection,
                limit=1024,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            records.extend(batch)
            if offset is None:
                return records

    def indexed_versions(self) -> dict[str, str]:
        return {
            r.payload["layer_id"]: r.payload["version"] for r in self.scroll(False) if r.payload
        }

    def search(self, query: Query, using: str = TEXT) -> list[Hit]:
        must: list[Any] = []
        if query.base_model:
            must.append(
                qm.FieldCondition(key="base_model", match=qm.MatchValue(value=query.base_model))
            )
        if query.domain:
            must.append(qm.FieldCondition(key="domains", match=qm.MatchAny(any=[query.domain])))
        must_not: list[Any] = (
            [qm.FieldCondition(key="layer_id", match=qm.MatchAny(any=sorted(query.exclude)))]
            if query.exclude
            else []
        )
        result = self.client.query_points(
            self.collection,
            query=query.vector.tolist(),
            using=using,
            limit=query.k,
            query_filter=qm.Filter(must=must, must_not=must_not) if must or must_not else None,
            score_threshold=query.min_score if query.min_score > -1.0 else None,
            with_payload=True,
        )
        return [
            Hit(p.payload["layer_id"], p.payload["version"], float(p.score))
            for p in result.points
            if p.payload
        ]

    def close(self) -> None:
        self.client.close()


class VectorTable:
    """The vectors of one named vector, as a growing float32 matrix of unit rows."""

    def __init__(self, dim: int) -> None:
        self.matrix = np.zeros((0, dim), dtype=np.float32)
        self.rows = 0

    def put(self, row: int, vector: np.ndarray) -> None:
        if row >= self.matrix.shape[0]:
            grown = np.zeros(
                (max(16, 2 * self.matrix.shape[0], row + 1), self.matrix.shape[1]), np.float32
            )
            grown[: self.matrix.shape[0]] = self.matrix
            self.matrix = grown
        norm = float(np.linalg.norm(vector))
        self.matrix[row] = vector / norm if norm > 0 else vector
        self.rows = max(self.rows, row + 1)

    def scores(self, vector: np.ndarray) -> np.ndarray:
        norm = float(np.linalg.norm(vector))
        unit = (vector / norm if norm > 0 else vector).astype(np.float32)
        result: np.ndarray = self.matrix[: self.rows] @ unit
        return result


class LocalIndex(QdrantIndex):
    """Qdrant local mode for storage; exact search on an in-memory copy."""

    def __init__(self, client: QdrantClient, collection: str = "genome_layers") -> None:
        super().__init__(client, collection)
        self._row: dict[str, int] = {}
        self._ids: list[str] = []
        self._versions: list[str] = []
        self._base: list[str] = []
        self._base_rows: dict[str, set[int]] = {}
        self._domain_rows: dict[str, set[int]] = {}
        self._tables = {TEXT: VectorTable(TEXT_DIM), WEIGHTS: VectorTable(SIGNATURE_DIM)}
        self._masks: dict[tuple[str, str], np.ndarray] = {}
        points = []
        for record in self.scroll(True):
            payload, vectors = record.payload or {}, record.vector or {}
            if TEXT in vectors and WEIGHTS in vectors:
                points.append(
                    LayerPoint(
                        payload["layer_id"],
                        payload["version"],
                        payload["base_model"],
                        tuple(payload.get("domains", [])),
                        np.asarray(vectors[TEXT], np.float32),
                        np.asarray(vectors[WEIGHTS], np.float32),
                    )
                )
        self._mirror(points)

    def _mirror(self, points: Sequence[LayerPoint]) -> None:
        self._masks.clear()
        for point in points:
            row = self._row.get(point.layer_id)
            if row is None:
                row = self._row[point.layer_id] = len(self._ids)
                self._ids.append(point.layer_id)
                self._versions.append(point.version)
                self._base.append(point.base_model)
            else:
                self._base_rows[self._base[row]].discard(row)
                for rows in self._domain_rows.values():
                    rows.discard(row)
                self._versions[row], self._base[row] = point.version, point.base_model
            self._base_rows.setdefault(point.base_model, set()).add(row)
            for domain in point.domains:
                self._domain_rows.setdefault(domain, set()).add(row)
            self._tables[TEXT].put(row, point.text)
            self._tables[WEIGHTS].put(row, point.weights)

    def upsert(self, points: Sequence[LayerPoint]) -> None:
        super().upsert(points)
        self._mirror(points)

    def add_mirror_only(self, points: Sequence[LayerPoint]) -> None:
        """For benchmarks: fill the search copy without writing to Qdrant."""
        self._mirror(points)

    def indexed_versions(self) -> dict[str, str]:
        return dict(zip(self._ids, self._versions, strict=True))

    def search(self, query: Query, using: str = TEXT) -> list[Hit]:
        scores = self._tables[using].scores(query.vector)
        if scores.size == 0:
            return []
        keep: np.ndarray | None = None
        for kind, key in (("base", query.base_model), ("domain", query.domain)):
            if key:
                mask = self._mask(kind, key, scores.size)
                keep = mask if keep is None else keep & mask
        if keep is not None or query.exclude:
            scores = scores.copy()
            if keep is not None:
                scores[~keep] = -np.inf
            for layer_id in query.exclude:
                row = self._row.get(layer_id)
                if row is not None:
                    scores[row] = -np.inf
        k = min(query.k, scores.size)
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            Hit(self._ids[i], self._versions[i], float(scores[i]))
            for i in top
            if np.isfinite(scores[i]) and scores[i] >= query.min_score
        ]

    def _mask(self, kind: str, key: str, size: int) -> np.ndarray:
        """Rows with this base model or domain, as a boolean mask (cached until
        the next upsert)."""
        mask = self._masks.get((kind, key))
        if mask is None:
            rows = (self._base_rows if kind == "base" else self._domain_rows).get(key, set())
            mask = np.zeros(size, dtype=bool)
            if rows:
                mask[np.fromiter(rows, dtype=np.int64, count=len(rows))] = True
            self._masks[(kind, key)] = mask
        return mask
