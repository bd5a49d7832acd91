"""Ledger ids of signed documents: chosen by the signer, scoped to it."""

from __future__ import annotations

from continuum.market.ledger import ID
from continuum_marketplace.market import derived_id, scoped_id


def test_one_signers_document_id_cannot_take_anothers_transaction() -> None:
    mine, theirs = "a" * 52, "b" * 52
    assert scoped_id("order", mine, "order-1") == scoped_id("order", mine, "order-1")
    assert scoped_id("order", mine, "order-1") != scoped_id("order", theirs, "order-1")
    assert scoped_id("order", mine, "x") != scoped_id("use", mine, "x")
    assert ID.match(scoped_id("use", mine, "u" * 128))


def test_a_derived_id_stays_a_valid_id_however_long_its_source() -> None:
    assert derived_id("refund", "tx-1") == "refund-tx-1"
    long = derived_id("refund", "t" * 128)
    assert ID.match(long) and long != derived_id("refund", "t" * 127)
