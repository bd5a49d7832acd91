"""The market's book (listings, licences, ratings, academy evidence, uses),
its signed documents and its price suggestions: pure domain, no I/O."""

from __future__ import annotations

import base64
import random

import pytest
from nacl.signing import SigningKey

from continuum.events.academy import TrainingCompleted
from continuum.events.market import (
    Ancestor,
    LayerRated,
    LedgerLeg,
    LicenceGranted,
    ListingPublished,
    ListingTerms,
    TransactionRecorded,
)
from continuum.genome.manifest import creator_of
from continuum.market.book import DAY, MarketBook, UnknownListing
from continuum.market.documents import (
    DocumentError,
    Order,
    RatingNote,
    UsageReport,
    canonical,
    open_signed,
    signed,
)
from continuum.market.pricing import suggest_per_use

NOW = 1_800_000_000.0


def key() -> str:
    return creator_of(SigningKey.generate())


def listing(base_model: str = "builtin", per_use: int = 5) -> ListingPublished:
    creator = key()
    return ListingPublished(
        version="1.0.0", creator=creator, terms=ListingTerms(per_use=per_use), license="mit",
        offer={}, signature="x", description="d", base_model=base_model,
        lineage=[Ancestor(layer="l@1.0.0", creator=creator)], node=key(),
    )  # fmt: skip


def rating(rater: str, node: str, score: float) -> LayerRated:
    return LayerRated(
        rater=rater, node=node, score=score, version="1.0.0", document={}, signature="x"
    )


# -- documents ----------------------------------------------------------------------------


def test_a_signed_document_opens_only_with_its_signers_key() -> None:
    wallet = SigningKey.generate()
    order = Order(
        id="o-1", kind="buy", layer="sql", account=creator_of(wallet), node=key(),
        max_units=100, at=NOW,
    )  # fmt: skip
    body = signed(order, wallet)
    assert open_signed(Order, body["document"], body["signature"]) == order
    changed = {**body["document"], "max_units": 10_000}
    with pytest.raises(DocumentError, match="does not verify"):
        open_signed(Order, changed, body["signature"])
    other = SigningKey.generate()
    forged = base64.b64encode(other.sign(canonical(body["document"])).signature).decode()
    with pytest.raises(DocumentError, match="does not verify"):
        open_signed(Order, body["document"], forged)
    with pytest.raises(DocumentError, match="signed by"):
        signed(order, other)


def test_a_signature_for_one_kind_of_document_is_no_other() -> None:
    node = SigningKey.generate()
    report = UsageReport(
        id="u-1", node=creator_of(node), account=key(), layer="sql@1.0.0", uses=1,
        per_use=5, at=NOW,
    )  # fmt: skip
    body = signed(report, node)
    with pytest.raises(DocumentError, match="invalid"):
        open_signed(RatingNote, body["document"], body["signature"])
    negative = {**body["document"], "per_use": -5}
    with pytest.raises(DocumentError, match="per_use"):
        open_signed(UsageReport, negative, body["signature"])
    with pytest.raises(DocumentError, match="not signed"):
        open_signed(UsageReport, body["document"], "")
    with pytest.raises(DocumentError, match="JSON object"):
        open_signed(UsageReport, ["not", "an", "object"], body["signature"])


# -- the book ----------------------------------------------------------------------------


def test_a_withdrawn_listing_is_not_for_sale() -> None:
    from continuum.events.market import ListingWithdrawn

    book = MarketBook()
    book.apply("sql", listing(), NOW)
    assert book.listing("sql").ref == "sql@1.0.0"
    book.apply("sql", ListingWithdrawn(creator=key(), signature="x", offer={}), NOW)
    with pytest.raises(UnknownListing):
        book.listing("sql")


def _events(seed: int) -> list[tuple[str, object, float]]:
    rng = random.Random(seed)
    raters = [key() for _ in range(30)]
    nodes = [key() for _ in range(5)]
    out: list[tuple[str, object, float]] = [
        ("a", listing(), NOW),
        ("b", listing(), NOW),
    ]
    for i in range(300):
        layer = rng.choice("ab")
        if i % 3 == 0:
            payload: object = rating(rng.choice(raters), rng.choice(nodes), rng.random())
            out.append((f"{layer}", payload, NOW + i))
        elif i % 3 == 1:
            payload = TrainingCompleted(
                layer=f"{layer}@1.0.0", final_loss=1.0, seconds=1.0, dev_after=rng.random()
            )
            out.append((f"t{i}", payload, NOW + i))
        else:
            payer = rng.choice(raters)
            legs = [LedgerLeg(account=payer, amount=-5), LedgerLeg(account="platform", amount=5)]
            payload = TransactionRecorded(
                kind="use", legs=legs, by="n", layer=f"{layer}@1.0.0", quantity=1
            )
            out.append((f"u{i}", payload, NOW + i))
    return out


def test_folding_the_same_log_twice_gives_the_same_reputations() -> None:
    events = _events(3)
    first, second = MarketBook(), MarketBook()
    for subject, payload, at in events:
        first.apply(subject, payload, at)
    for subject, payload, at in events:
        second.apply(subject, payload, at)
    for layer in ("a", "b"):
        assert first.standing(layer, NOW + 400) == second.standing(layer, NOW + 400)
        assert first.demand(layer, NOW + 400) == second.demand(layer, NOW + 400)


def test_fifty_fresh_keys_on_fifty_nodes_cannot_lift_a_bad_layer_above_a_good_one() -> None:
    """The worst case for one-voice-per-node: every fresh key through its own
    node. Established raters (a record of agreeing with consensus) outweigh
    them, the ring's votes are clipped to the consensus, and the academy's
    evidence is in the blend too."""
    book = MarketBook()
    book.apply("good", listing(), NOW)
    book.apply("bad", listing(), NOW)
    honest = [(key(), key()) for _ in range(3)]
    for rater, _ in honest:
        book.agreed[rater] = 30  # a long record of ratings that agreed with consensus
    for rater, node in honest:
        book.apply("good", rating(rater, node, 0.8), NOW)
        book.apply("bad", rating(rater, node, 0.2), NOW)
    for layer, score in (("good", 0.8), ("bad", 0.2)):
        for i in range(5):
            done = TrainingCompleted(
                layer=f"{layer}@1.0.0", final_loss=1.0, seconds=1.0, dev_after=score
            )
            book.apply(f"{layer}{i}", done, NOW)
    for _ in range(50):
        book.apply("bad", rating(key(), key(), 1.0), NOW)
    good, bad = book.standing("good", NOW), book.standing("bad", NOW)
    assert bad.ratings.voters == 53 and bad.ratings.consensus == pytest.approx(0.2)
    assert good.score > bad.score and good.mean > bad.mean
    assert bad.mean < 0.3


def test_evidence_on_another_base_model_counts_a_quarter() -> None:
    book = MarketBook()
    book.apply("l", listing(base_model="m1"), NOW)
    for i in range(4):
        book.apply(
            f"old{i}",
            TrainingCompleted(layer="l@1.0.0", final_loss=1, seconds=1, dev_after=1.0),
            NOW,
        )
    relisted = listing(base_model="m2").model_copy(update={"version": "2.0.0"})
    book.apply("l", relisted, NOW)
    for i in range(4):
        book.apply(
            f"new{i}",
            TrainingCompleted(layer="l@2.0.0", final_loss=1, seconds=1, dev_after=0.0),
            NOW,
        )
    standing = book.standing("l", NOW)
    assert standing.academy == pytest.approx((4 * 0.25 * 1.0) / (4 * 0.25 + 4))
    assert standing.academy_n == pytest.approx(5.0)


def test_retention_counts_holders_who_still_use_a_layer() -> None:
    book = MarketBook()
    book.apply("l", listing(), NOW)
    keeper, leaver, node = key(), key(), key()
    for account in (keeper, leaver):
        licence = LicenceGranted(
            account=account, node=node, layer="l@1.0.0", kind="bought",
            transaction=f"o-{account[:8]}", order={}, signature="x",
        )  # fmt: skip
        book.apply(f"{account[:10]}", licence, NOW)
    later = NOW + 60 * DAY
    legs = [LedgerLeg(account=keeper, amount=-5), LedgerLeg(account="platform", amount=5)]
    use = TransactionRecorded(kind="use", legs=legs, by="n", layer="l@1.0.0", quantity=1)
    book.apply("u1", use, later - DAY)
    standing = book.standing("l", later)
    assert standing.holders == 2 and standing.retention == pytest.approx(0.5)
    assert book.demand("l", later) == (1, 0)


# -- prices ------------------------------------------------------------------------------


def test_demand_and_a_rising_trend_raise_the_suggested_price_within_bounds() -> None:
    calm = suggest_per_use(10, [10, 12, 8], uses_7d=400, uses_prev_7d=400)
    busy = suggest_per_use(10, [10, 12, 8], uses_7d=1600, uses_prev_7d=400)
    idle = suggest_per_use(10, [10, 12, 8], uses_7d=0, uses_prev_7d=400)
    assert calm.anchor == 10 and calm.per_use == 10
    assert busy.per_use > calm.per_use > idle.per_use
    assert idle.per_use >= 5 and busy.per_use <= 20
    alone = suggest_per_use(0, [], uses_7d=0, uses_prev_7d=0)
    assert alone.per_use >= 1 and alone.similar == 0
