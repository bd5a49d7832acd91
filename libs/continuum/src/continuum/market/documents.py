"""The market's signed documents: what a creator offers, what a user orders,
what a node reports it ran, what a user thinks of a layer.

Each is signed by the key that answers for it (the creator, the buyer's
wallet, the reporting node, the rater) over its canonical JSON (keys sorted,
no whitespace, UTF-8), and names that key, so any market, local or across
the mesh, can check it from the document alone. A ``type`` field keeps a
signature for one kind of document from being replayed as another. The
document's ``id`` (orders, reports) is the ledger transaction's id: a
re-sent document charges once, at any age.
"""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Literal, TypeVar

from nacl.signing import SigningKey
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from continuum.events.envelope import describe_validation_error
from continuum.events.genome import LAYER_ID_PATTERN, LAYER_REF_PATTERN, VERSION_PATTERN
from continuum.events.market import ID_PATTERN, KEY_PATTERN, ListingTerms
from continuum.identity import node_id_from_key, verify_signature
from continuum.market.ledger import LedgerError

Key = Annotated[str, Field(pattern=KEY_PATTERN)]
#: Seconds since the epoch, as the signer's clock had it.
Time = Annotated[float, Field(ge=0, le=10**11)]


class DocumentError(LedgerError):
    """A document that does not parse or whose signature does not verify."""


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def signer(self) -> str:
        raise NotImplementedError


class Offer(_Document):
    """A creator lists (or withdraws) a layer version on these terms."""

    type: Literal["offer"] = "offer"
    action: Literal["list", "delist"] = "list"
    layer: str = Field(pattern=LAYER_ID_PATTERN)
    version: str = Field(default="latest", pattern=rf"{VERSION_PATTERN}|^latest$", max_length=48)
    terms: ListingTerms = Field(default_factory=ListingTerms)
    license: str = Field(default="", max_length=64)
    creator: Key
    at: Time

    def signer(self) -> str:
        return self.creator


class Order(_Document):
    """A wallet buys or rents a layer for use on ``node``, paying at most ``max_units``."""

    type: Literal["order"] = "order"
    id: str = Field(pattern=ID_PATTERN)
    kind: Literal["buy", "rent"]
    layer: str = Field(pattern=LAYER_ID_PATTERN)
    account: Key
    node: Key
    max_units: StrictInt = Field(ge=0, le=10**15)
    at: Time

    def signer(self) -> str:
        return self.account


class UsageReport(_Document):
    """A node ran ``layer`` ``uses`` times for ``account`` (which holds a licence there)."""

    type: Literal["usage"] = "usage"
    id: str = Field(pattern=ID_PATTERN)
    node: Key
    account: Key
    layer: str = Field(pattern=LAYER_REF_PATTERN)
    uses: StrictInt = Field(ge=1, le=1_000_000)
    #: The price per use the node saw listed; a report never pays more than it.
    per_use: StrictInt = Field(ge=0, le=10**15)
    at: Time

    def signer(self) -> str:
        return self.node


class RatingNote(_Document):
    """A user's rating of a layer, 0 (bad) to 1 (good), sent through ``node``."""

    type: Literal["rating"] = "rating"
    layer: str = Field(pattern=LAYER_ID_PATTERN)
    rater: Key
    node: Key
    score: float = Field(ge=0.0, le=1.0)
    at: Time

    def signer(self) -> str:
        return self.rater


D = TypeVar("D", bound=_Document)


def canonical(document: _Document | dict[str, Any]) -> bytes:
    doc = document.model_dump(mode="json") if isinstance(document, BaseModel) else document
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(document: _Document, key: SigningKey) -> str:
    if document.signer() != node_id_from_key(key.verify_key):
        raise DocumentError(f"a {document.type} is signed by {document.signer()[:12]}…'s key")  # type: ignore[attr-defined]
    return base64.b64encode(key.sign(canonical(document)).signature).decode()


def open_signed(kind: type[D], document: Any, signature: Any) -> D:
    """The ``kind`` document in ``document``, if ``signature`` is its signer's;
    :class:`DocumentError` naming what is wrong otherwise."""
    name = kind.model_fields["type"].default
    if not isinstance(document, dict):
        raise DocumentError(f"the {name} must be a JSON object")
    try:
        parsed = kind.model_validate(document)
    except ValidationError as exc:
        raise DocumentError(f"the {name} is invalid: {describe_validation_error(exc)}") from None
    if not isinstance(signature, str) or not signature:
        raise DocumentError(f"the {name} is not signed (no signature)")
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        raise DocumentError(f"the {name}'s signature is not base64") from None
    # The signature covers the bytes as sent (defaults filled in would change them).
    if not verify_signature(parsed.signer(), canonical(document), raw):
        raise DocumentError(
            f"the {name}'s signature does not verify for {parsed.signer()[:12]}… "
            "(forged, or changed after signing)"
        )
    return parsed


def signed(document: _Document, key: SigningKey) -> dict[str, Any]:
    """``{"document": ..., "signature": ...}``, as the market's commands take it."""
    return {"document": document.model_dump(mode="json"), "signature": sign(document, key)}
