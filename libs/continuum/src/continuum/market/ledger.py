"""A double-entry ledger: every transaction's legs sum to zero, so the sum of
all balances is always zero and money is neither created nor lost.

Amounts are integers of minor units (1 credit = 100 units): never floats, so
a split is exact to the unit. Credits enter only through the ``mint``
account, which alone may go negative: its balance is minus everything ever
granted, an audit trail in one number. Every other account refuses to go
below zero. A transaction has an id chosen by whoever asks (the purchase id,
the usage report's id): applying an id twice changes nothing, at any age.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

#: Minor units per credit.
UNITS = 100
#: Where granted credits come from (the only account allowed below zero).
MINT = "mint"
#: The platform's share of every sale and use.
PLATFORM = "platform"
#: Account names and transaction ids (they are event aggregate ids).
ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class LedgerError(ValueError):
    """A transaction that cannot be applied; nothing of it was."""


class InsufficientFunds(LedgerError):
    pass


@dataclass(frozen=True)
class Leg:
    """``amount`` units to ``account`` (negative: taken from it)."""

    account: str
    amount: int


@dataclass(frozen=True)
class Transaction:
    id: str
    kind: str
    legs: tuple[Leg, ...]
    memo: str = ""
    #: The layer@version paid for, and the uses a per-use charge covers.
    layer: str = ""
    quantity: int = 0

    def __post_init__(self) -> None:
        if not ID.match(self.id):
            raise LedgerError(
                f"transaction id {self.id!r}: 1-128 letters, digits, '-' or '_' (its "
                "idempotency key)"
            )
        if len(self.legs) < 2:
            raise LedgerError(f"transaction {self.id}: needs at least two legs")
        accounts = [leg.account for leg in self.legs]
        if len(set(accounts)) != len(accounts):
            raise LedgerError(f"transaction {self.id}: one leg per account")
        for account in accounts:
            if not ID.match(account):
                raise LedgerError(f"account {account!r}: 1-128 letters, digits, '-' or '_'")
        for leg in self.legs:
            if not isinstance(leg.amount, int) or isinstance(leg.amount, bool):
                raise LedgerError(f"transaction {self.id}: amounts are integer units")
            if leg.amount == 0:
                raise LedgerError(f"transaction {self.id}: a leg of zero to {leg.account}")
        total = sum(leg.amount for leg in self.legs)
        if total != 0:
            raise LedgerError(f"transaction {self.id}: legs sum to {total}, not 0")

    @classmethod
    def of(
        cls,
        id: str,
        kind: str,
        amounts: Mapping[str, int],
        memo: str = "",
        layer: str = "",
        quantity: int = 0,
    ) -> Transaction:
        """A transaction from account -> amount, dropping zero amounts (a
        royalty rounded down to nothing is no leg)."""
        legs = tuple(Leg(a, n) for a, n in amounts.items() if n != 0)
        return cls(id, kind, legs, memo, layer, quantity)

    def accounts(self) -> set[str]:
        return {leg.account for leg in self.legs}


@dataclass
class Ledger:
    """Balances and the ids applied, kept in memory (the read model keeps
    the same in PostgreSQL, rebuilt from the log)."""

    balances: dict[str, int] = field(default_factory=dict)
    applied: set[str] = field(default_factory=set)

    def balance(self, account: str) -> int:
        return self.balances.get(account, 0)

    def check(self, tx: Transaction) -> None:
        """Raise what applying ``tx`` would break; changes nothing."""
        moved: dict[str, int] = {}
        for leg in tx.legs:
            moved[leg.account] = moved.get(leg.account, 0) + leg.amount
        for account, amount in moved.items():
            after = self.balance(account) + amount
            if after < 0 and account != MINT:
                raise InsufficientFunds(
                    f"{account} has {format_units(self.balance(account))}, "
                    f"{format_units(-amount)} needed"
                )

    def apply(self, tx: Transaction) -> bool:
        """Apply ``tx`` whole or not at all; False when its id was applied
        before (nothing changes)."""
        if tx.id in self.applied:
            return False
        self.check(tx)
        for leg in tx.legs:
            self.balances[leg.account] = self.balance(leg.account) + leg.amount
        self.applied.add(tx.id)
        return True

    def replay(self, transactions: Iterable[Transaction]) -> Ledger:
        for tx in transactions:
            self.apply(tx)
        return self

    def minted(self) -> int:
        """Everything ever granted: what the other accounts hold between them."""
        return -self.balance(MINT)


def format_units(units: int) -> str:
    """``1234`` -> ``12.34`` (credits), exactly."""
    sign = "-" if units < 0 else ""
    whole, part = divmod(abs(units), UNITS)
    return f"{sign}{whole}.{part:02d}"


def parse_credits(text: str) -> int:
    """``"12.34"`` -> 1234 units; refuses more than two decimals and anything
    that is not a plain non-negative decimal number."""
    text = text.strip()
    whole, dot, part = text.partition(".")
    if not whole.isdigit() or (dot and (not part.isdigit() or len(part) > 2)):
        raise LedgerError(f"{text!r} is not an amount of credits (e.g. 12 or 0.05)")
    return int(whole) * UNITS + int(part.ljust(2, "0") if part else 0)
