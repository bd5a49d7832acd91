"""The disk tier: layer files on the node's own disk, between the warm tier
(CPU memory) and the cold one (the registry's object store).

Files are named by the sha256 of their bytes and written only after the
bytes verified (hash, signature, header), atomically (temporary file, then
rename); they are verified again whenever they are read, like anything
fetched, so a damaged file is dropped and fetched again. LRU by bytes;
the index is rebuilt from the directory at start (a restarted runtime
keeps its layers). This is the tier the naive baseline reads from too: a
local file is cheaper than a fetch over NATS (ADR 0009).
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from continuum_lm.lru import LruBytes, TierStats

_NAME = re.compile(r"^[0-9a-f]{64}\.safetensors$")


class DiskLayers:
    def __init__(self, root: Path, budget_bytes: int) -> None:
        self.root = root
        self.lru: LruBytes[Path] = LruBytes(budget_bytes)
        self.stats = TierStats(budget_bytes)
        root.mkdir(parents=True, exist_ok=True)
        files = [p for p in root.iterdir() if _NAME.match(p.name)]
        for path in sorted(files, key=lambda p: p.stat().st_mtime):
            self.lru.put(path.name[:64], path, path.stat().st_size)
        for tmp in root.glob(".*.tmp"):  # a write a crash interrupted
            tmp.unlink(missing_ok=True)

    def read(self, sha256: str) -> bytes | None:
        self.lru.frequency.record(sha256)
        path = self.lru.get(sha256)
        if path is None:
            self.stats.misses += 1
            return None
        try:
            data = path.read_bytes()
        except OSError:
            self.drop(sha256)
            self.stats.misses += 1
            return None
        self.stats.hit()
        return data

    def write(self, sha256: str, data: bytes) -> None:
        if sha256 in self.lru:
            return
        path = self.root / f"{sha256}.safetensors"
        tmp = self.root / f".{sha256}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            tmp.unlink(missing_ok=True)
            return  # a full disk costs a refetch later, nothing more
        for _, old in self.lru.put(sha256, path, len(data)):
            self.stats.evictions += 1
            with contextlib.suppress(OSError):
                old.unlink()

    def drop(self, sha256: str) -> None:
        path = self.lru.pop(sha256)
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()
