"""Events of the market context: the ledger's transactions and the entries
they make on each account (ADR 0019).

A transaction is recorded once, on its own subject
(``evt.market.transaction.<id>``), together with one entry per account it
touches (``evt.market.account.<account>``), in one atomic append: the
transaction's subject must be new (so an id is recorded once, at any age)
and each account it takes from must be where the writer read its balance
(so two writers cannot spend one balance twice). Accounts it only pays into
are not checked: a credit cannot overdraw, and a hot account (the platform,
a popular creator) must not serialise every purchase.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from continuum.events.catalog import catalog

#: Accounts and transaction ids are aggregate ids.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"
AccountId = Annotated[str, Field(pattern=ID_PATTERN)]
#: The largest amount of one leg, in minor units (ten trillion credits).
MAX_UNITS = 10**15
Units = Annotated[StrictInt, Field(ge=-MAX_UNITS, le=MAX_UNITS)]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LedgerLeg(_Payload):
    account: AccountId
    amount: Units


@catalog.register(context="market", aggregate="transaction", name="recorded")
class TransactionRecorded(_Payload):
    """A ledger transaction: legs that sum to zero, in minor units."""

    kind: str = Field(pattern=r"^[a-z][a-z_]{0,31}$", description="grant, purchase, use, ...")
    legs: list[LedgerLeg] = Field(min_length=2, max_length=64)
    memo: str = Field(default="", max_length=500)
    by: str = Field(min_length=1, max_length=128, description="Who asked for it.")

    @model_validator(mode="after")
    def _balanced(self) -> TransactionRecorded:
        total = sum(leg.amount for leg in self.legs)
        if total != 0:
            raise ValueError(f"legs sum to {total}, not 0")
        if any(leg.amount == 0 for leg in self.legs):
            raise ValueError("a leg of zero")
        if len({leg.account for leg in self.legs}) != len(self.legs):
            raise ValueError("one leg per account")
        return self


@catalog.register(context="market", aggregate="account", name="entry_recorded")
class EntryRecorded(_Payload):
    """One account's part of a transaction (its balance is the sum of its entries)."""

    transaction: AccountId
    kind: str = Field(pattern=r"^[a-z][a-z_]{0,31}$")
    amount: Units
