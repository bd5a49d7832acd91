"""The cache policy: bytes-bounded, sampled LFU over recency, pins, and
frequency-based admission."""

from __future__ import annotations

from continuum_lm.lru import Frequency, LruBytes


def test_evicts_the_least_frequent_of_the_oldest_and_never_a_pin() -> None:
    lru: LruBytes[str] = LruBytes(30, pinned=lambda k: k == "pinned")
    for key in ("pinned", "popular", "once"):
        lru.put(key, key, 10)
    for _ in range(5):
        lru.frequency.record("popular")
        lru.get("popular")
    lru.frequency.record("once")
    lru.get("once")  # now the most recent, but asked for once
    evicted = lru.put("new", "new", 10)
    assert [k for k, _ in evicted] == ["once"]  # not the older, popular one; never the pin
    assert lru.used == 30 and "pinned" in lru and "popular" in lru


def test_keep_protects_what_the_request_needs() -> None:
    lru: LruBytes[str] = LruBytes(20)
    lru.put("a", "a", 10)
    lru.put("b", "b", 10)
    evicted = lru.put("c", "c", 10, keep=frozenset({"a"}))
    assert [k for k, _ in evicted] == ["b"]


def test_admission_prefers_what_is_asked_for_more_often() -> None:
    lru: LruBytes[str] = LruBytes(10)
    lru.put("resident", "r", 10)
    for _ in range(3):
        lru.frequency.record("resident")
    lru.frequency.record("newcomer")
    assert not lru.admit("newcomer", 10)
    for _ in range(5):
        lru.frequency.record("newcomer")
    assert lru.admit("newcomer", 10)
    assert LruBytes[str](100).admit("anything", 10)  # room to spare: always


def test_frequencies_fade() -> None:
    frequency = Frequency(halve_every=10)
    for _ in range(9):
        frequency.record("old")
    frequency.record("new")
    assert frequency["old"] == 4 and frequency["new"] == 0
