"""The marketplace's money: the ledger's invariants and the usage split,
exact to the unit (property-tested)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from continuum.market.ledger import (
    MINT,
    PLATFORM,
    InsufficientFunds,
    Ledger,
    LedgerError,
    Transaction,
    format_units,
    parse_credits,
)
from continuum.market.splits import MAX_DEPTH, Terms, split_payment

#: A 3-deep fork chain: c forks b, which forks a.
CHAIN = {"a": ("alice", ()), "b": ("bob", ("a",)), "c": ("carol", ("b",))}


def lineage(layer: str) -> tuple[str, tuple[str, ...]]:
    return CHAIN[layer]


def test_royalties_over_a_three_deep_fork_chain_to_the_unit() -> None:
    parts = split_payment(100, "c", lineage, Terms(platform_bp=1_000, royalty_bp=2_000))
    # 10 to the platform; of carol's 90, 18 go to bob, of which 3 go to alice.
    assert parts == {PLATFORM: 10, "carol": 72, "bob": 15, "alice": 3}
    assert split_payment(7, "c", lineage, Terms()) == {PLATFORM: 1, "carol": 5, "bob": 1}
    assert split_payment(0, "c", lineage, Terms()) == {}


def test_several_parents_share_the_royalty_and_depth_is_bounded() -> None:
    merged = {"m": ("mia", ("x", "y")), "x": ("xan", ()), "y": ("yuri", ())}
    parts = split_payment(1_000, "m", lambda layer: merged[layer], Terms())
    assert parts == {PLATFORM: 100, "mia": 720, "xan": 90, "yuri": 90}
    deep = {f"l{i}": (f"creator{i}", (f"l{i + 1}",)) for i in range(20)}
    deep["l20"] = ("creator20", ())
    paid = split_payment(10**9, "l0", lambda layer: deep[layer], Terms(royalty_bp=5_000))
    assert len(paid) == MAX_DEPTH + 2  # the platform, and no one past the limit
    assert sum(paid.values()) == 10**9


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(0, 10**12),
    platform=st.integers(0, 10_000),
    royalty=st.integers(0, 10_000),
    depth=st.integers(0, 12),
)
def test_a_split_always_adds_up_exactly(
    amount: int, platform: int, royalty: int, depth: int
) -> None:
    chain = {f"l{i}": (f"c{i}", (f"l{i + 1}",) if i < depth else ()) for i in range(depth + 1)}
    parts = split_payment(amount, "l0", lambda layer: chain[layer], Terms(platform, royalty))
    assert sum(parts.values()) == amount and all(v > 0 for v in parts.values())


def test_terms_and_amounts_are_checked() -> None:
    with pytest.raises(LedgerError, match="basis points"):
        Terms(platform_bp=10_001)
    with pytest.raises(LedgerError, match="negative"):
        split_payment(-1, "c", lineage, Terms())


def test_a_transaction_must_balance_and_applies_once() -> None:
    ledger = Ledger()
    with pytest.raises(LedgerError, match="sum to 5"):
        Transaction.of("t0", "grant", {MINT: -100, "ann": 105})
    with pytest.raises(LedgerError, match="integer"):
        Transaction.of("t0", "grant", {MINT: -1.5, "ann": 1.5})  # type: ignore[dict-item]
    grant = Transaction.of("g1", "grant", {MINT: -1_000, "ann": 1_000})
    assert ledger.apply(grant) and not ledger.apply(grant)  # re-sent: charged once
    assert ledger.balance("ann") == 1_000 and ledger.minted() == 1_000
    with pytest.raises(InsufficientFunds, match=r"ann has 10\.00, 20\.00 needed"):
        ledger.apply(Transaction.of("p1", "purchase", {"ann": -2_000, "bob": 2_000}))
    assert ledger.balance("bob") == 0 and "p1" not in ledger.applied  # nothing half-applied


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["ann", "bob", "cy", "dee"]),
            st.sampled_from(["ann", "bob", "cy", "dee", MINT]),
            st.integers(1, 5_000),
        ),
        max_size=60,
    )
)
def test_balances_always_sum_to_zero_and_replay_gives_the_same(
    moves: list[tuple[str, str, int]],
) -> None:
    ledger, log = Ledger(), []
    for i, (to, source, amount) in enumerate(moves):
        if to == source:
            continue
        tx = Transaction.of(f"t{i}", "move", {source: -amount, to: amount})
        try:
            ledger.apply(tx)
        except InsufficientFunds:
            continue
        log.append(tx)
    assert sum(ledger.balances.values()) == 0
    assert all(v >= 0 for a, v in ledger.balances.items() if a != MINT)
    assert sum(v for a, v in ledger.balances.items() if a != MINT) == ledger.minted()
    assert Ledger().replay(log + log).balances == ledger.balances


def test_credits_are_read_and_written_exactly() -> None:
    assert parse_credits("12.34") == 1234 and parse_credits("0.5") == 50
    assert parse_credits("7") == 700
    assert format_units(1234) == "12.34" and format_units(-5) == "-0.05"
    for bad in ("-1", "1.234", "1e3", "", "0x10", ".5"):
        with pytest.raises(LedgerError):
            parse_credits(bad)
