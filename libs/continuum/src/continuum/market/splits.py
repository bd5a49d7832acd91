"""Who gets what of one payment: the platform, the layer's creator, and the
creators up its fork lineage.

The platform takes ``platform_bp`` basis points (10% by default) and the
creator's part is the rest. Of what any layer's creator receives, a share of
``royalty_bp`` goes to the creators of its parents (split evenly between
several parents), and so on up the lineage: a fork of a fork pays both
ancestors, the nearer one more. Every share is rounded down and the units
left over stay with whoever would have paid them, so the parts always add
up to the payment exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from continuum.market.ledger import PLATFORM, LedgerError

BASIS = 10_000
#: How far up a lineage royalties go (deeper ancestors get nothing more).
MAX_DEPTH = 8


@dataclass(frozen=True)
class Terms:
    platform_bp: int = 1_000
    royalty_bp: int = 2_000

    def __post_init__(self) -> None:
        for name in ("platform_bp", "royalty_bp"):
            value = getattr(self, name)
            if not 0 <= value <= BASIS:
                raise LedgerError(f"{name} must be 0..{BASIS} basis points, not {value}")


#: (layer) -> (its creator's account, its parents' layers)
Lineage = Callable[[str], tuple[str, Sequence[str]]]


def split_payment(amount: int, layer: str, lineage: Lineage, terms: Terms) -> dict[str, int]:
    """account -> units for a payment of ``amount`` units for ``layer``."""
    if amount < 0:
        raise LedgerError(f"a payment cannot be negative ({amount})")
    parts: dict[str, int] = {}

    def give(account: str, units: int) -> None:
        if units:
            parts[account] = parts.get(account, 0) + units

    creators_part = amount * (BASIS - terms.platform_bp) // BASIS
    give(PLATFORM, amount - creators_part)

    def pay(layer: str, units: int, depth: int) -> None:
        creator, parents = lineage(layer)
        if not parents or depth >= MAX_DEPTH:
            give(creator, units)
            return
        royalty = units * terms.royalty_bp // BASIS
        each = royalty // len(parents)
        give(creator, units - each * len(parents))
        for parent in parents:
            pay(parent, each, depth + 1)

    pay(layer, creators_part, 0)
    return parts
