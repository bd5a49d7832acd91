"""A market across the mesh: what a node may ask another node's marketplace.

A node that uses another's market (``CONTINUUM_MARKET=NODE``) sends each
request sealed to that node and signed by itself, like a layer question;
the answer comes back sealed. Only the operations a user of a market needs
cross: signed offers (a creator on the asking node lists a layer it holds,
sending the signed manifests along), reading listings and wallets, signed
orders, usage reports and ratings, and compute charges paid by the asking
node itself. Grants,
refunds and the audit stay with the market's own operators. Money still
moves only on a signature the market checks (the wallet's, the reporting
node's); the sealing adds who is asking, which a compute charge must be
paid by.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.mesh.sealing import Refused

RemoteOp = Literal[
    "sell", "delist", "listings", "show", "search", "order", "usage", "rate", "wallet",
    "statement", "licences", "price", "compute",
]  # fmt: skip
#: Requests the market counts under the node that relayed them (``via``).
RELAYED_BY_SENDER = frozenset({"sell", "delist", "rate"})


class MarketAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: RemoteOp
    body: dict[str, Any] = Field(default_factory=dict)


def read_market_ask(payload: dict[str, Any], sender: str) -> MarketAsk:
    """The request in an opened envelope from ``sender``, or :class:`Refused`."""
    try:
        ask = MarketAsk.model_validate(payload)
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"]) or "request"
        raise Refused(f"malformed market request: {where}: {problem['msg']}") from None
    if ask.op == "compute" and ask.body.get("payer") != sender:
        raise Refused("a node pays only for its own routed generations")
    return ask
