"""The data-free weight signature finds near-duplicates; both search adapters
(Qdrant's own search, and local mode's in-memory copy) give the same answers."""

from __future__ import annotations

import numpy as np
import pytest
from layer_factory import BASE, lora_tensors, signed
from nacl.signing import SigningKey
from qdrant_client import QdrantClient
from safetensors.numpy import save

from continuum_genome_registry import validation
from continuum_genome_registry.index import (
    WEIGHTS,
    LayerIndex,
    LayerPoint,
    LocalIndex,
    QdrantIndex,
    Query,
)
from continuum_genome_registry.signature import SIGNATURE_DIM, scaling, weight_signature

KEY = SigningKey.generate()


def signature_of(tensors: dict[str, np.ndarray]) -> tuple[np.ndarray, list[float]]:
    data = save(tensors)
    doc, sig = signed(data, KEY)
    manifest = validation.validate_manifest(doc, sig)
    _, modules = validation.validate_weights(manifest, data, {"builtin": BASE}, validation.Limits())
    return weight_signature(data, modules, scaling(manifest.adapter_config, manifest.rank))


def delta(tensors: dict[str, np.ndarray]) -> np.ndarray:
    names = sorted({n.rsplit(".lora_", 1)[0] for n in tensors})
    return np.concatenate(
        [(tensors[f"{n}.lora_B.weight"] @ tensors[f"{n}.lora_A.weight"]).ravel() for n in names]
    )


def test_signatures_estimate_the_cosine_of_the_updates() -> None:
    a = lora_tensors(seed=1)
    noisy = {
        k: v + 0.05 * np.random.default_rng(9).standard_normal(v.shape).astype(np.float32)
        for k, v in a.items()
    }
    b = lora_tensors(seed=2)
    sa, spectrum = signature_of(a)
    assert sa.shape == (SIGNATURE_DIM,) and abs(float(np.linalg.norm(sa)) - 1) < 1e-5
    assert len(spectrum) == 16 and spectrum == sorted(spectrum, reverse=True)
    near, far = float(signature_of(noisy)[0] @ sa), float(signature_of(b)[0] @ sa)
    assert near > 0.95 and abs(far) < 0.5
    for other in (noisy, b):
        exact = float(
            delta(a) @ delta(other) / np.linalg.norm(delta(a)) / np.linalg.norm(delta(other))
        )
        assert abs(float(signature_of(other)[0] @ sa) - exact) < 0.35


def test_a_scaled_copy_has_the_same_signature() -> None:
    a = lora_tensors(seed=3)
    doubled = {k: (2 * v if "lora_B" in k else v) for k, v in a.items()}
    assert float(signature_of(a)[0] @ signature_of(doubled)[0]) > 0.999


def _point(
    layer_id: str, text: np.ndarray, base: str = "builtin", domains: tuple[str, ...] = ("python",)
) -> LayerPoint:
    weights = (
        np.random.default_rng(abs(hash(layer_id)) % 2**32)
        .standard_normal(SIGNATURE_DIM)
        .astype(np.float32)
    )
    return LayerPoint(layer_id, "1.0.0", base, domains, text, weights)


@pytest.fixture(params=["qdrant", "local"])
def index(request: pytest.FixtureRequest) -> LayerIndex:
    client = QdrantClient(location=":memory:")
    return QdrantIndex(client) if request.param == "qdrant" else LocalIndex(client)


def test_search_filters_thresholds_and_replaces(index: LayerIndex) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((50, 384)).astype(np.float32)
    points = [
        _point(
            f"layer-{i}",
            vectors[i],
            base="builtin" if i % 2 else "other",
            domains=("python",) if i % 3 else ("go",),
        )
        for i in range(50)
    ]
    index.upsert(points)
    query = vectors[7] + 0.1 * rng.standard_normal(384).astype(np.float32)
    hits = index.search(Query(query, k=5))
    assert hits[0].layer_id == "layer-7" and len(hits) == 5
    exact = vectors @ query / np.linalg.norm(vectors, axis=1) / np.linalg.norm(query)
    assert [h.layer_id for h in hits] == [f"layer-{i}" for i in np.argsort(-exact)[:5]]
    filtered = index.search(Query(query, k=50, base_model="other", domain="go"))
    assert filtered and all(int(h.layer_id.split("-")[1]) % 6 == 0 for h in filtered)
    assert all(h.score >= 0.5 for h in index.search(Query(query, k=50, min_score=0.5)))
    assert "layer-7" not in {
        h.layer_id for h in index.search(Query(query, k=5, exclude=frozenset({"layer-7"})))
    }
    index.upsert([LayerPoint("layer-7", "2.0.0", "builtin", ("rust",), -query, points[7].weights)])
    assert index.indexed_versions()["layer-7"] == "2.0.0"
    assert "layer-7" not in {h.layer_id for h in index.search(Query(query, k=3))}
    assert index.search(Query(points[3].weights, k=1), WEIGHTS)[0].layer_id == "layer-3"


def test_local_index_reloads_what_qdrant_stored(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "qdrant"
    first = LocalIndex(QdrantClient(path=str(path)))
    vector = np.ones(384, dtype=np.float32)
    first.upsert([_point("kept", vector)])
    first.close()
    again = LocalIndex(QdrantClient(path=str(path)))
    assert again.search(Query(vector, k=1))[0].layer_id == "kept"
    again.close()
