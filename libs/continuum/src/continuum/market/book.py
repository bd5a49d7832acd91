"""The market's state, folded from its log (no I/O): listings, licences,
ratings, academy evidence and uses. Dropping it and folding the log again
gives the same listings and the same reputations (tested), which is what
makes reputation a projection rather than a stored opinion.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from continuum.events.academy import (
    AbTestConcluded,
    AbTestRegistered,
    AttemptScored,
    AttemptSubmitted,
    TrainingCompleted,
)
from continuum.events.market import (
    LayerRated,
    LicenceGranted,
    ListingPublished,
    ListingWithdrawn,
    TransactionRecorded,
)
from continuum.market.ledger import LedgerError
from continuum.market.reputation import Rating, Reputation, layer_reputation, wilson_lower_bound

DAY = 86_400.0
#: The weight of evidence gathered on another base model (a soft reset).
OTHER_BASE_WEIGHT = 0.25
#: At most this many academy observations count per layer (so a flood of
#: cheap exams cannot outweigh everything else).
MAX_ACADEMY_WEIGHT = 50.0
#: The weight of one licence holder still using a layer.
RETENTION_WEIGHT = 0.5
#: A licence holder counts as retained when it used (or got) the layer this recently.
RETAINED_DAYS = 30.0


class UnknownListing(LedgerError):
    """No listing of that layer (or it was withdrawn)."""


@dataclass
class Listing:
    layer: str
    event: ListingPublished
    listed_at: float
    withdrawn: bool = False

    @property
    def ref(self) -> str:
        return f"{self.layer}@{self.event.version}"


@dataclass(frozen=True)
class Evidence:
    """One observation of a layer's quality, 0..1, on a base model."""

    score: float
    base_model: str
    weight: float = 1.0


@dataclass(frozen=True)
class Standing:
    """A layer's reputation: the blend and its parts."""

    layer: str
    score: float  # lower confidence bound of the blend, 0..1
    mean: float
    weight: float
    ratings: Reputation
    academy: float | None
    academy_n: float
    retention: float | None
    holders: int


@dataclass
class MarketBook:
    listings: dict[str, Listing] = field(default_factory=dict)
    #: licence id -> the licence
    licences: dict[str, LicenceGranted] = field(default_factory=dict)
    #: (account, layer id) -> when its holder last got (or renewed) a licence
    licensed_at: dict[tuple[str, str], float] = field(default_factory=dict)
    #: layer id -> accounts holding a licence for it (on any node)
    holders: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: layer id -> rater -> its latest rating (a rater changes its mind, not its weight)
    ratings: dict[str, dict[str, LayerRated]] = field(default_factory=dict)
    #: rater -> ratings that agreed with the consensus when made
    agreed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    academy: dict[str, list[Evidence]] = field(default_factory=lambda: defaultdict(list))
    #: layer id -> (time, uses) of each per-use charge
    uses: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    #: (account, layer id) -> last use
    last_use: dict[tuple[str, str], float] = field(default_factory=dict)
    base_models: dict[str, str] = field(default_factory=dict)  # layer ref -> base model
    _attempt_genomes: dict[str, list[str]] = field(default_factory=dict)
    _abtests: dict[str, AbTestRegistered] = field(default_factory=dict)
    #: layer id -> (the ratings' consensus, how many ratings it was computed from)
    _consensus: dict[str, tuple[float | None, int]] = field(default_factory=dict)

    # -- folding ------------------------------------------------------------------------

    def apply(self, aggregate: str, payload: object, at: float) -> None:
        """Fold one event of the aggregate ``aggregate`` (a layer, a licence
        id, a transaction, an academy session...) that happened at ``at``."""
        if isinstance(payload, ListingPublished):
            self.listings[aggregate] = Listing(aggregate, payload, at)
            for ancestor in payload.lineage:
                self.base_models.setdefault(ancestor.layer, payload.base_model)
            self.base_models[f"{aggregate}@{payload.version}"] = payload.base_model
        elif isinstance(payload, ListingWithdrawn):
            if aggregate in self.listings:
                self.listings[aggregate].withdrawn = True
        elif isinstance(payload, LicenceGranted):
            self.licences[aggregate] = payload
            layer = payload.layer.split("@", 1)[0]
            self.licensed_at[(payload.account, layer)] = at
            self.holders[layer].add(payload.account)
        elif isinstance(payload, LayerRated):
            self._rate(aggregate, payload)
        elif isinstance(payload, TransactionRecorded):
            if payload.kind == "use" and payload.layer:
                layer = payload.layer.split("@", 1)[0]
                self.uses[layer].append((at, payload.quantity))
                payer = min(payload.legs, key=lambda leg: leg.amount).account
                self.last_use[(payer, layer)] = at
        else:
            self._academy(aggregate, payload)

    def _rate(self, layer: str, rated: LayerRated) -> None:
        """Keep the rating; credit its rater when it agrees (within 0.25) with
        the consensus before it. The consensus is recomputed whenever the
        layer's ratings grew by an eighth since it last was, so a fold stays
        O(n log n) and gives the same numbers on every replay."""
        count = len(self.ratings.get(layer, {}))
        consensus, at_count = self._consensus.get(layer, (None, -1))
        if at_count < 0 or count - at_count >= max(1, at_count // 8):
            before = self.reputation_of_ratings(layer)
            consensus = before.consensus if before.voters else None
            self._consensus[layer] = (consensus, count)
        if consensus is not None and abs(rated.score - consensus) <= 0.25:
            self.agreed[rated.rater] += 1
        self.ratings.setdefault(layer, {})[rated.rater] = rated

    def _academy(self, aggregate: str, payload: object) -> None:
        """Academy evidence: a trained layer's dev accuracy, an A/B test's
        accuracy of every variant holding the layer, scored exam attempts
        made with it."""
        if isinstance(payload, TrainingCompleted) and payload.dev_after is not None:
            self._evidence([payload.layer], payload.dev_after)
        elif isinstance(payload, AbTestRegistered):
            self._abtests[aggregate] = payload
        elif isinstance(payload, AbTestConcluded) and aggregate in self._abtests:
            variants = {v.name: v for v in self._abtests[aggregate].variants}
            for result in payload.results:
                if result.name in variants:
                    refs = [f"{g.layer_id}@{g.version}" for g in variants[result.name].genome]
                    self._evidence(refs, result.accuracy, weight=min(10.0, result.exercises / 20))
        elif isinstance(payload, AttemptSubmitted) and payload.genome:
            self._attempt_genomes[payload.attempt_id] = [
                f"{g.layer_id}@{g.version}" for g in payload.genome
            ]
        elif isinstance(payload, AttemptScored):
            scored = self._attempt_genomes.get(payload.attempt_id)
            if scored:
                self._evidence(scored, payload.score)

    def _evidence(self, refs: Sequence[str], score: float, weight: float = 1.0) -> None:
        for ref in refs:
            layer = ref.split("@", 1)[0]
            base = self.base_models.get(ref) or self.base_models.get(layer, "")
            self.academy[layer].append(Evidence(score, base, weight))

    # -- questions ----------------------------------------------------------------------

    def listing(self, layer: str) -> Listing:
        found = self.listings.get(layer)
        if found is None or found.withdrawn:
            raise UnknownListing(f"{layer} is not listed on this market")
        return found

    def active(self) -> list[Listing]:
        return [listing for listing in self.listings.values() if not listing.withdrawn]

    def licence(self, account: str, node: str, layer: str) -> LicenceGranted | None:
        return self.licences.get(licence_id(account, node, layer))

    def licences_of(self, node: str | None = None, account: str | None = None) -> list[str]:
        return [
            key
            for key, lic in self.licences.items()
            if (node is None or lic.node == node) and (account is None or lic.account == account)
        ]

    def reputation_of_ratings(self, layer: str) -> Reputation:
        rated = self.ratings.get(layer, {})
        return layer_reputation(
            layer,
            (Rating(layer, r.rater, r.node, r.score) for r in rated.values()),
            self.agreed,
        )

    def standing(self, layer: str, now: float) -> Standing:
        """The documented blend (ADR 0019): ratings (rater-weighted, clipped
        to consensus), academy evidence (its mean, one weight per
        observation, capped) and retention (holders who used the layer in
        the last 30 days), each weighted by how much evidence it has,
        evidence on another base model counting a quarter; Wilson's lower
        bound of the blended mean over the total weight."""
        listing = self.listings.get(layer)
        base = listing.event.base_model if listing else None
        ratings = self.reputation_of_ratings(layer)
        parts: list[tuple[float, float]] = []
        if ratings.weight:
            parts.append((ratings.mean, ratings.weight))
        evidence = self.academy.get(layer, [])
        academy_mean: float | None = None
        academy_n = 0.0
        if evidence:
            weights = [
                e.weight
                * (1.0 if base is None or e.base_model in ("", base) else OTHER_BASE_WEIGHT)
                for e in evidence
            ]
            academy_n = sum(weights)
            academy_mean = sum(e.score * w for e, w in zip(evidence, weights, strict=True)) / (
                academy_n or 1.0
            )
            parts.append((academy_mean, min(academy_n, MAX_ACADEMY_WEIGHT)))
        holders = self.holders.get(layer, set())
        retention: float | None = None
        if holders:
            kept = sum(
                1
                for a in holders
                if now - max(self.last_use.get((a, layer), -1e18), self.licensed_at[(a, layer)])
                <= RETAINED_DAYS * DAY
            )
            retention = kept / len(holders)
            parts.append((retention, RETENTION_WEIGHT * len(holders)))
        weight = sum(w for _, w in parts)
        mean = sum(m * w for m, w in parts) / weight if weight else 0.0
        return Standing(
            layer,
            wilson_lower_bound(mean, weight),
            mean,
            weight,
            ratings,
            academy_mean,
            academy_n,
            retention,
            len(holders),
        )

    def demand(self, layer: str, now: float) -> tuple[int, int]:
        """Uses in the last 7 days and in the 7 before."""
        recent = sum(n for t, n in self.uses.get(layer, []) if now - t <= 7 * DAY)
        before = sum(n for t, n in self.uses.get(layer, []) if 7 * DAY < now - t <= 14 * DAY)
        return recent, before


def licence_id(account: str, node: str, layer: str) -> str:
    """One licence per (account, node, layer), as an aggregate id."""
    return hashlib.sha256(f"{account}|{node}|{layer}".encode()).hexdigest()[:40]
