"""An LRU map bounded by bytes, with pinning, and the statistics of a cache tier."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

V = TypeVar("V")


@dataclass
class TierStats:
    budget_bytes: int
    hits: int = 0
    misses: int = 0
    evictions: int = 0
    loads: int = 0
    load_ms_total: float = 0.0
    load_ms_max: float = 0.0
    prefetches: int = 0
    recent_load_ms: list[float] = field(default_factory=list)
    recent_hit_ms: list[float] = field(default_factory=list)

    def hit(self, ms: float | None = None) -> None:
        self.hits += 1
        if ms is not None:
            self.recent_hit_ms.append(ms)
            del self.recent_hit_ms[:-256]

    def loaded(self, ms: float) -> None:
        self.loads += 1
        self.load_ms_total += ms
        self.load_ms_max = max(self.load_ms_max, ms)
        self.recent_load_ms.append(ms)
        del self.recent_load_ms[:-256]

    def report(self, used_bytes: int, entries: int) -> dict[str, float | int | None]:
        lookups = self.hits + self.misses
        recent = sorted(self.recent_load_ms)
        hit_ms = sorted(self.recent_hit_ms)
        return {
            "entries": entries,
            "bytes": used_bytes,
            "budget_bytes": self.budget_bytes,
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": round(self.hits / lookups, 4) if lookups else None,
            "evictions": self.evictions,
            "loads": self.loads,
            "mean_load_ms": round(self.load_ms_total / self.loads, 3) if self.loads else None,
            "p50_load_ms": round(recent[len(recent) // 2], 3) if recent else None,
            "max_load_ms": round(self.load_ms_max, 3) if self.loads else None,
            "p50_hit_ms": round(hit_ms[len(hit_ms) // 2], 4) if hit_ms else None,
            "prefetches": self.prefetches,
        }


class Frequency:
    """How often each key was asked for lately (counts halve periodically, so
    yesterday's favourite fades): the "LFU" in the cache policy below."""

    def __init__(self, halve_every: int = 4096) -> None:
        self.counts: dict[str, int] = {}
        self.halve_every = halve_every
        self._seen = 0

    def record(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1
        self._seen += 1
        if self._seen >= self.halve_every:
            self._seen = 0
            self.counts = {k: c // 2 for k, c in self.counts.items() if c > 1}

    def __getitem__(self, key: str) -> int:
        return self.counts.get(key, 0)


class LruBytes(Generic[V]):
    """Bounded by bytes. Eviction looks at the ``SAMPLE`` least recently used
    entries that may go (not pinned, not in ``keep``: what the current request
    needs) and evicts the one asked for least often lately: recency breaks
    ties, frequency protects the popular layers a plain LRU would flush on a
    burst of one-off requests (measured under Zipf in ``make bench``).
    ``identity`` maps an entry to what its frequency is counted under (the
    hot tier's entries are slots that change layers)."""

    SAMPLE = 16

    def __init__(
        self,
        budget_bytes: int,
        pinned: Callable[[str], bool] = lambda _: False,
        identity: Callable[[str], str] = lambda key: key,
    ) -> None:
        self.budget = budget_bytes
        self.pinned = pinned
        self.identity = identity
        self.frequency = Frequency()
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self.used = 0

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> V | None:
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def items(self) -> list[tuple[str, V, int]]:
        return [(k, v, n) for k, (v, n) in self._items.items()]

    def victim(
        self,
        keep: frozenset[str] | set[str] = frozenset(),
        fits: Callable[[str], bool] = lambda _: True,
    ) -> str | None:
        """The entry to evict next (None if nothing may go)."""
        sample = []
        for key in self._items:  # least recently used first
            if key in keep or self.pinned(key) or not fits(key):
                continue
            sample.append(key)
            if len(sample) == self.SAMPLE:
                break
        if not sample:
            return None
        return min(sample, key=lambda k: self.frequency[self.identity(k)])

    def admit(self, identity: str, nbytes: int) -> bool:
        """Worth caching? Yes if it fits; else only if it is asked for more
        often than what it would push out (TinyLFU-style admission)."""
        if self.used + nbytes <= self.budget:
            return True
        victim = self.victim()
        return (
            victim is not None and self.frequency[identity] > self.frequency[self.identity(victim)]
        )

    def put(
        self, key: str, value: V, nbytes: int, keep: frozenset[str] = frozenset()
    ) -> list[tuple[str, V]]:
        """Insert (most recent) and return what had to be evicted to fit."""
        if key in self._items:
            self.used -= self._items.pop(key)[1]
        self._items[key] = (value, nbytes)
        self.used += nbytes
        evicted: list[tuple[str, V]] = []
        while self.used > self.budget:
            victim = self.victim(keep | {key})
            if victim is None:
                break
            value_out, size = self._items.pop(victim)
            self.used -= size
            evicted.append((victim, value_out))
        return evicted

    def pop(self, key: str) -> V | None:
        item = self._items.pop(key, None)
        if item is None:
            return None
        self.used -= item[1]
        return item[0]
