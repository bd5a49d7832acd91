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
from continuum.events.genome import LAYER_REF_PATTERN, VERSION_PATTERN

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
    #: The layer@version a purchase, rental or use paid for (empty: none).
    layer: str = Field(default="", max_length=200)
    #: Uses a per-use charge covers.
    quantity: int = Field(default=0, ge=0, le=10**9)

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


# -- listings, licences and ratings ------------------------------------------------------

#: An identity (a creator, a user, a node): its Ed25519 public key in base32.
KEY_PATTERN = r"^[a-z2-7]{52}$"
Key = Annotated[str, Field(pattern=KEY_PATTERN)]
Signature = Annotated[str, Field(min_length=1, max_length=128, description="base64 Ed25519")]
NonNegativeUnits = Annotated[StrictInt, Field(ge=0, le=MAX_UNITS)]


class ListingTerms(_Payload):
    """What a layer costs, in minor units (100 = one credit); all zero = free."""

    #: Paid once by ``buy``: a licence on the buyer's node for as long as the listing lives.
    price: NonNegativeUnits = 0
    #: Charged for every generation a licensed node runs with the layer.
    per_use: NonNegativeUnits = 0
    #: Paid by ``rent`` for ``period_days`` of uses without per-use charges (0: not for rent).
    rent: NonNegativeUnits = 0
    period_days: int = Field(default=30, ge=1, le=3650)

    @property
    def free(self) -> bool:
        return not (self.price or self.per_use or self.rent)


class Ancestor(_Payload):
    """One layer of a listing's lineage, as the registry knew it when listed:
    royalties go to ``creator`` for the uses of its descendants."""

    layer: str = Field(pattern=LAYER_REF_PATTERN)
    creator: Key
    parents: list[Annotated[str, Field(pattern=LAYER_REF_PATTERN)]] = Field(
        default_factory=list, max_length=16
    )


@catalog.register(context="market", aggregate="listing", name="published")
class ListingPublished(_Payload):
    """A creator offers a published layer version (a new version or new terms
    replace the listing's earlier ones)."""

    version: str = Field(pattern=VERSION_PATTERN, max_length=48)
    creator: Key
    terms: ListingTerms
    license: str = Field(min_length=1, max_length=64)
    #: The signed offer (see ``continuum.market.documents.Offer``) and its signature.
    offer: dict[str, object]
    signature: Signature
    #: From the registry, for search and display.
    description: str = Field(max_length=2000)
    domains: list[str] = Field(default_factory=list, max_length=16)
    base_model: str = Field(min_length=1, max_length=256)
    #: The layer and its ancestors (for royalties); the first is the layer itself.
    lineage: list[Ancestor] = Field(min_length=1, max_length=64)
    #: The node whose registry holds the weights.
    node: Key


@catalog.register(context="market", aggregate="listing", name="withdrawn")
class ListingWithdrawn(_Payload):
    creator: Key
    signature: Signature
    offer: dict[str, object]


@catalog.register(context="market", aggregate="licence", name="granted")
class LicenceGranted(_Payload):
    """``account`` may run ``layer`` on ``node``: bought (uses charged per use)
    or rented until ``until`` (uses free until then). Subject: the licence id,
    one per (account, node, layer)."""

    account: Key
    node: Key
    layer: str = Field(pattern=LAYER_REF_PATTERN)
    kind: Annotated[str, Field(pattern=r"^(bought|rented|free)$")]
    until: float | None = Field(default=None, ge=0)
    transaction: str = Field(pattern=ID_PATTERN)
    order: dict[str, object]
    signature: Signature


@catalog.register(context="market", aggregate="rating", name="recorded")
class LayerRated(_Payload):
    """A user's signed rating of a layer (subject: the layer id)."""

    rater: Key
    #: The node the rater's rating came through (its signature is checked too).
    node: Key
    score: float = Field(ge=0.0, le=1.0)
    version: str = Field(pattern=VERSION_PATTERN, max_length=48)
    document: dict[str, object]
    signature: Signature
