"""The genome marketplace over HTTP: listings, search, orders, usage,
ratings, wallets and statements; grants and refunds for admins.

Anything that moves money or speaks for someone is a signed document
(``continuum.market.documents``): the route only forwards it, and the market
checks the signature against the key that answers for it (the creator, the
wallet, the reporting node, the rater). So a token's scope decides who may
call, and the signature decides whose money moves. The market is this
node's own, or another node's over the mesh (``CONTINUUM_MARKET``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from continuum.contracts.commands import SignedDocument
from continuum.market.ledger import LedgerError, parse_credits
from continuum.mesh.routing import NoRoute
from continuum_gateway.http.app import gateway_of
from continuum_gateway.http.auth import require
from continuum_gateway.http.errors import ApiError
from continuum_gateway.http.routes_chat import call_service
from continuum_gateway.http.routes_genome import LayerId
from continuum_gateway.mesh.agent import MeshAgent
from continuum_gateway.mesh.layers import RemoteLayerError
from continuum_gateway.mesh.market import ask_market
from continuum_gateway.tokens import ApiToken

router = APIRouter()

KEY = r"^[a-z2-7]{52}$"
ACCOUNT = r"^[a-z2-7]{52}$|^platform$|^mint$"
TX_ID = r"^[A-Za-z0-9_-]{1,128}$"
Account = Annotated[str, Path(pattern=ACCOUNT, description="A wallet: a public key (base32).")]
Read = Annotated[ApiToken, Depends(require("read"))]
Publish = Annotated[ApiToken, Depends(require("publish"))]
Admin = Annotated[ApiToken, Depends(require("admin"))]


class SignedBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any] = Field(description="The signed document, as signed.")
    signature: str = Field(min_length=1, max_length=128, description="base64 Ed25519")


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str = Field(pattern=r"^[a-z2-7]{52}$|^platform$")
    credits: str = Field(
        pattern=r"^[0-9]{1,10}(\.[0-9]{1,2})?$", description="Credits, e.g. 12.50 (no rail)."
    )
    reason: str = Field(min_length=1, max_length=300)
    id: str | None = Field(default=None, pattern=TX_ID, description="Idempotency key.")


class RefundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transaction: str = Field(pattern=TX_ID)
    reason: str = Field(min_length=1, max_length=300)


def _market_node(request: Request) -> MeshAgent | None:
    """The mesh agent, when this node uses another node's market (``CONTINUUM_MARKET``)."""
    mesh = gateway_of(request).mesh
    return mesh.agent if mesh is not None and mesh.agent.ctx.settings.market else None


async def market(request: Request, op: str, body: dict[str, Any]) -> Any:
    """``cmd.marketplace.<op>`` on the market this node uses."""
    agent = _market_node(request)
    if agent is None:
        return await call_service(request, "marketplace", op, body, 30)
    if op in ("grant", "refund", "audit"):
        raise ApiError(403, "grants, refunds and the audit belong to the market node's operators")
    try:
        return await ask_market(agent, op, body)
    except NoRoute as exc:
        raise ApiError(503, f"the market node is not in the mesh: {exc}") from None
    except RemoteLayerError as exc:
        raise ApiError(exc.status if 400 <= exc.status < 500 else 503, exc.message) from None


def _signed(body: SignedBody) -> dict[str, Any]:
    return SignedDocument(document=body.document, signature=body.signature).model_dump()


@router.get("/v1/market/listings", summary="Listings, newest first")
async def listings(
    request: Request,
    _: Read,
    creator: Annotated[str | None, Query(pattern=KEY)] = None,
    include_withdrawn: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Any:
    body: dict[str, Any] = {"include_withdrawn": include_withdrawn, "limit": limit}
    body["offset"] = offset
    if creator:
        body["creator"] = creator
    return await market(request, "listings", body)


@router.post("/v1/market/listings", status_code=201, summary="List a layer (a signed offer)")
async def sell(request: Request, body: Annotated[SignedBody, Body()], _: Publish) -> Any:
    ask = _signed(body)
    if _market_node(request) is not None:
        ask["manifests"] = await _signed_manifests(request, body.document)
    return await market(request, "sell", ask)


async def _signed_manifests(request: Request, offer: dict[str, Any]) -> list[dict[str, Any]]:
    """A layer's signed manifest and its ancestors', from this node's
    registry: what another node's market checks an offer from here against."""
    layer, version = offer.get("layer"), offer.get("version") or "latest"
    if not isinstance(layer, str) or not isinstance(version, str):
        raise ApiError(400, "the offer names no layer")
    ask = {"layer": layer, "version": version}
    found = [await call_service(request, "genome-registry", "manifest", ask, 30)]
    tree = await call_service(request, "genome-registry", "lineage", ask, 30)
    for ref in dict.fromkeys(edge["parent"] for edge in tree.get("ancestors", [])):
        name, _, at = str(ref).partition("@")
        ancestor = {"layer": name, "version": at or "latest"}
        found.append(await call_service(request, "genome-registry", "manifest", ancestor, 30))
    return [{"manifest": m["manifest"], "signature": m["signature"]} for m in found]


@router.post("/v1/market/listings/{layer}/withdraw", summary="Delist (a signed offer)")
async def delist(
    request: Request, layer: LayerId, body: Annotated[SignedBody, Body()], _: Publish
) -> Any:
    if body.document.get("layer") != layer:
        raise ApiError(400, f"the offer names {body.document.get('layer')!r}, the path {layer}")
    return await market(request, "delist", _signed(body))


@router.get("/v1/market/listings/{layer}", summary="One listing, its reputation and demand")
async def show(request: Request, layer: LayerId, _: Read) -> Any:
    return await market(request, "show", {"layer": layer})


@router.get("/v1/market/listings/{layer}/price", summary="A suggested per-use price")
async def price(request: Request, layer: LayerId, _: Read) -> Any:
    return await market(request, "price", {"layer": layer})


@router.get("/v1/market/search", summary="Listings by capability, reputation and price")
async def search(
    request: Request,
    _: Read,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="What it should do.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Any:
    return await market(request, "search", {"query": q, "k": k})


_UNPAID = {402: {"description": "The wallet cannot pay (its balance is named)."}}


@router.post(
    "/v1/market/orders",
    summary="Buy or rent a layer (an order signed by the wallet)",
    responses=_UNPAID,  # type: ignore[arg-type]
)
async def order(request: Request, body: Annotated[SignedBody, Body()], _: Publish) -> Any:
    return await market(request, "order", _signed(body))


@router.post(
    "/v1/market/usage",
    summary="Charge a usage report (signed by the node that ran it)",
    responses=_UNPAID,  # type: ignore[arg-type]
)
async def usage(request: Request, body: Annotated[SignedBody, Body()], _: Publish) -> Any:
    return await market(request, "usage", _signed(body))


@router.post("/v1/market/ratings", summary="Rate a layer (signed by the rater)")
async def rate(request: Request, body: Annotated[SignedBody, Body()], _: Publish) -> Any:
    return await market(request, "rate", _signed(body))


@router.get("/v1/market/licences", summary="Licences, by node or account")
async def licences(
    request: Request,
    _: Read,
    node: Annotated[str | None, Query(pattern=KEY)] = None,
    account: Annotated[str | None, Query(pattern=KEY)] = None,
) -> Any:
    body = {k: v for k, v in (("node", node), ("account", account)) if v}
    return await market(request, "licences", body)


@router.get("/v1/market/wallets/{account}", summary="A wallet's balance")
async def wallet(request: Request, account: Account, _: Read) -> Any:
    return await market(request, "wallet", {"account": account})


@router.get("/v1/market/wallets/{account}/statement", summary="A wallet's entries")
async def statement(
    request: Request,
    account: Account,
    _: Read,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> Any:
    return await market(request, "statement", {"account": account, "limit": limit})


@router.post("/v1/market/grants", summary="Mint credits into a wallet (admin; audited)")
async def grant(request: Request, body: Annotated[GrantBody, Body()], token: Admin) -> Any:
    try:
        units = parse_credits(body.credits)
    except LedgerError as exc:
        raise ApiError(400, str(exc)) from None
    if units <= 0:
        raise ApiError(400, "a grant is a positive number of credits")
    ask = {"account": body.account, "units": units, "reason": body.reason, "by": token.name}
    if body.id:
        ask["id"] = body.id
    return await market(request, "grant", ask)


@router.post("/v1/market/refunds", summary="Reverse a purchase, rental or use (admin)")
async def refund(request: Request, body: Annotated[RefundBody, Body()], token: Admin) -> Any:
    ask = {"transaction": body.transaction, "reason": body.reason, "by": token.name}
    return await market(request, "refund", ask)


@router.get("/v1/market/audit", summary="Every balance summed; the minted total (admin)")
async def audit(request: Request, _: Admin) -> Any:
    return await market(request, "audit", {})
