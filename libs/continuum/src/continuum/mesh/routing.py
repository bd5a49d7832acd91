"""Choosing the node that serves a generation, and saying why.

Every node that serves the persona (by name, or by capability: similarity
between the prompt and a persona's domains) is a candidate; each gets a
score in [0, 1] from five measures, weighted:

    score = 0.45 capability + 0.20 latency + 0.15 load + 0.10 price + 0.10 reputation

    capability  1 for the persona asked for by name, else cosine similarity
    latency     1 / (1 + rtt_ms / 20)      (measured round trips, EWMA; 0 ms here)
    load        1 / (1 + queue depth)      (from the advert)
    price       1 / (1 + price)            (per generation; 0 = free)
    reputation  Wilson lower bound of this node's success rate with the peer

A banned peer (it failed recently; the ban doubles with each failure) and an
expired one are not candidates; ``--why`` lists them with the reason.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from continuum.mesh.adverts import Advert, Offer
from continuum.mesh.peers import PeerStats, PeerTable

WEIGHTS = {"capability": 0.45, "latency": 0.20, "load": 0.15, "price": 0.10, "reputation": 0.10}
LATENCY_SCALE_MS = 20.0
#: Below this similarity a persona is not a capability match at all.
MIN_SIMILARITY = 0.2
SCOPES = ("local", "lan", "global")


class NoRoute(LookupError):
    """No node can serve the request; the message says why."""


@dataclass
class Candidate:
    node: str
    name: str
    offer: Offer
    local: bool
    parts: dict[str, float]
    score: float
    excluded: str = ""

    def describe(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "name": self.name,
            "persona": self.offer.persona,
            "persona_name": self.offer.name,
            "local": self.local,
            "score": round(self.score, 4),
            "parts": {k: round(v, 4) for k, v in self.parts.items()},
            "excluded": self.excluded,
        }


@dataclass
class Route:
    """The ranked candidates (best first) and those left out, with reasons."""

    candidates: list[Candidate]
    excluded: list[Candidate] = field(default_factory=list)

    def why(self) -> list[dict[str, Any]]:
        return [c.describe() for c in [*self.candidates, *self.excluded]]


Vector = tuple[float, ...]


def decode_embedding(text: str) -> Vector | None:
    """A unit vector from its wire form (float16, little-endian, base64)."""
    if not text:
        return None
    try:
        raw = base64.b64decode(text, validate=True)
        values = struct.unpack(f"<{len(raw) // 2}e", raw[: len(raw) // 2 * 2])
    except (ValueError, struct.error):
        return None
    norm = math.sqrt(sum(v * v for v in values))
    return tuple(v / norm for v in values) if norm > 0 else None


def encode_embedding(vector: Sequence[float]) -> str:
    values = [float(v) for v in vector]
    return base64.b64encode(struct.pack(f"<{len(values)}e", *values)).decode()


def capability(offer: Offer, persona: str | None, prompt_vector: Vector | None) -> float:
    """1 or 0 for a persona asked for by name; else the cosine similarity of
    the prompt and the persona's capability text."""
    if persona:
        wanted = persona.strip().lower()
        return 1.0 if wanted in (offer.persona.lower(), offer.name.lower()) else 0.0
    vector = decode_embedding(offer.embedding)
    if prompt_vector is None or vector is None or len(vector) != len(prompt_vector):
        return 0.0
    return max(0.0, sum(a * b for a, b in zip(vector, prompt_vector, strict=True)))


def score(
    offer: Offer, advert: Advert, stats: PeerStats, local: bool, cap: float
) -> tuple[dict[str, float], float]:
    rtt = 0.0 if local else (stats.rtt_ms if stats.rtt_ms is not None else 100.0)
    parts = {
        "capability": cap,
        "latency": 1.0 / (1.0 + rtt / LATENCY_SCALE_MS),
        "load": 1.0 / (1.0 + advert.queue_depth),
        "price": 1.0 / (1.0 + (0.0 if local else advert.price)),
        "reputation": 1.0 if local else stats.reputation,
    }
    return parts, sum(WEIGHTS[k] * v for k, v in parts.items())


def in_scope(scope: str, advert: Advert, local: bool, lan: bool) -> bool:
    if scope == "local":
        return local
    if scope == "lan":
        return local or lan
    if scope == "global":
        return True
    wanted = scope.lower()
    return (
        advert.node == wanted
        or (len(wanted) >= 6 and advert.node.startswith(wanted))
        or advert.name.lower() == wanted
    )


def plan(
    table: PeerTable,
    own: Advert,
    *,
    persona: str | None,
    scope: str,
    now: float,
    prompt_vector: Vector | None = None,
) -> Route:
    """Rank the nodes that can serve ``persona`` (or the prompt, by
    capability) within ``scope``; raises :class:`NoRoute` with the reason
    when none can."""
    entries = [(own, PeerStats(), True, False)] + [
        (p.advert, p.stats, False, p.lan) for p in table.peers(now) if p.advert.node != own.node
    ]
    scoped = [e for e in entries if in_scope(scope, e[0], e[2], e[3])]
    if not scoped:
        known = ", ".join(sorted(a.name or a.node[:12] for a, *_ in entries)) or "none"
        raise NoRoute(f"no node {scope!r} in the mesh (known: {known})")
    ranked: list[Candidate] = []
    excluded: list[Candidate] = []
    for advert, stats, local, _ in scoped:
        for offer in advert.personas:
            cap = capability(offer, persona, prompt_vector)
            if cap <= 0.0 or (persona is None and cap < MIN_SIMILARITY):
                continue
            parts, total = score(offer, advert, stats, local, cap)
            candidate = Candidate(advert.node, advert.name, offer, local, parts, total)
            if not local and stats.banned(now):
                candidate.excluded = (
                    f"banned for {stats.banned_until - now:.1f}s more: {stats.last_error}"
                )
                excluded.append(candidate)
            else:
                ranked.append(candidate)
    ranked.sort(key=lambda c: (-c.score, c.node))
    if not ranked:
        what = f"persona {persona!r}" if persona else "a persona matching the prompt"
        where = "this node" if scope == "local" else f"the mesh ({scope})"
        reason = f"; {len(excluded)} banned after failing" if excluded else ""
        raise NoRoute(f"no node in {where} serves {what}{reason}")
    return Route(ranked, excluded)
