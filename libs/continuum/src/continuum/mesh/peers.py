"""The peer table: the adverts a node believes, and what it measured of each peer.

Adverts come and go (they expire); what this node learnt about a peer (its
round-trip time, how often it answered, its bans) outlives an advert, so a
node that flaps keeps its record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from continuum.mesh.adverts import Advert, AdvertRefused

#: Weight of a new round-trip sample in the moving average.
RTT_ALPHA = 0.3
#: The longest ban, however often a node failed.
MAX_BAN_S = 300.0


@dataclass
class PeerStats:
    """This node's own measurements of one peer."""

    rtt_ms: float | None = None
    successes: int = 0
    failures: int = 0
    banned_until: float = 0.0
    ban_s: float = 0.0
    last_error: str = ""

    def observe_rtt(self, ms: float) -> None:
        self.rtt_ms = ms if self.rtt_ms is None else RTT_ALPHA * ms + (1 - RTT_ALPHA) * self.rtt_ms

    def succeeded(self) -> None:
        self.successes += 1
        self.ban_s = 0.0  # the next failure starts the backoff again
        self.banned_until = 0.0

    def failed(self, now: float, base_ban_s: float, reason: str) -> float:
        """Count a failure and ban the peer: ``base_ban_s``, doubling with each
        failure in a row (Petals bans for 15 s, doubling). Returns the ban."""
        self.failures += 1
        self.last_error = reason
        self.ban_s = min(MAX_BAN_S, self.ban_s * 2 if self.ban_s else base_ban_s)
        self.banned_until = now + self.ban_s
        return self.ban_s

    def banned(self, now: float) -> bool:
        return now < self.banned_until

    @property
    def reputation(self) -> float:
        """Lower bound of the success rate (Wilson, 95%); 0.5 with no record,
        so a new peer is neither trusted nor shunned."""
        n = self.successes + self.failures
        if n == 0:
            return 0.5
        z = 1.96
        p = self.successes / n
        centre = p + z * z / (2 * n)
        spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return max(0.0, (centre - spread) / (1 + z * z / n))


@dataclass
class Peer:
    advert: Advert
    received_at: float
    stats: PeerStats
    lan: bool = False


@dataclass
class PeerTable:
    """Believed adverts by node id, with this node's stats of each."""

    adverts: dict[str, Advert] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)
    stats: dict[str, PeerStats] = field(default_factory=dict)
    lan: set[str] = field(default_factory=set)

    def offer(self, advert: Advert, now: float) -> bool:
        """Keep ``advert`` if it is newer than the one held; True when it
        changed what is known (a new peer, or new contents). An older one
        is a replay: :class:`AdvertRefused`."""
        held = self.adverts.get(advert.node)
        if held is not None and advert.seq < held.seq:
            raise AdvertRefused(
                f"replayed advert of node {advert.node[:12]}: seq {advert.seq} after {held.seq}"
            )
        self.received[advert.node] = now
        if held is not None and advert.seq == held.seq:
            return False
        self.adverts[advert.node] = advert
        self.stats.setdefault(advert.node, PeerStats())
        return held is None or not held.offers_the_same(advert)

    def reaching(self, url: str) -> Advert | None:
        """The peer that accepts leaves at ``url``, if one is known: joining it
        would close a loop (this node already reaches it through the mesh)."""
        for advert in self.adverts.values():
            if url in advert.leaf_urls:
                return advert
        return None

    def expire(self, now: float) -> list[str]:
        gone = [node for node, advert in self.adverts.items() if advert.expires_at <= now]
        for node in gone:
            del self.adverts[node]
        return gone

    def stats_of(self, node: str) -> PeerStats:
        return self.stats.setdefault(node, PeerStats())

    def peers(self, now: float) -> list[Peer]:
        self.expire(now)
        return [
            Peer(advert, self.received.get(node, now), self.stats_of(node), node in self.lan)
            for node, advert in sorted(self.adverts.items(), key=lambda kv: kv[1].name)
        ]
