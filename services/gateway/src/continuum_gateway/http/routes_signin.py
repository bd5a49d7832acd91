"""Signing a browser in: one-time links, trading a code for a token, and
what the web app asks first (who am I, which node is this)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from continuum import __version__
from continuum_gateway.http.app import gateway_of
from continuum_gateway.http.auth import require
from continuum_gateway.http.errors import ApiError
from continuum_gateway.signin import MAX_TTL_S
from continuum_gateway.tokens import ApiToken, TokenError

router = APIRouter()

_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"


class NewLink(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="web app", pattern=_NAME, description="The token's name.")
    scopes: list[Literal["read", "publish", "admin"]] = Field(
        default=["admin"], min_length=1, max_length=3, description="The token's scopes."
    )
    ttl_s: int = Field(default=600, ge=10, le=MAX_TTL_S, description="How long the link works.")


class Redeem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=128, description="The code from the link.")


@router.post(
    "/v1/signin/links",
    status_code=201,
    summary="A one-time sign-in link for the web app (the token is made when it is used)",
)
async def create_link(
    request: Request, body: NewLink, token: Annotated[ApiToken, Depends(require("admin"))]
) -> dict[str, Any]:
    gateway = gateway_of(request)
    assert gateway.signin is not None
    try:
        link = await gateway.signin.create(token, body.name, body.scopes, body.ttl_s)
    except TokenError as exc:
        raise ApiError(400, str(exc)) from None
    return {
        "url": f"{gateway.settings.url}/#signin={link.code}",
        "code": link.code,
        "name": link.name,
        "scopes": sorted(link.scopes),
        "expires_at": link.expires_at.isoformat(),
    }


@router.post(
    "/v1/signin",
    summary="Trade a one-time code for a token (no token needed; a code works once)",
    responses={401: {"description": "The code is unknown, used or expired."}},
)
async def signin(request: Request, body: Redeem) -> dict[str, Any]:
    gateway = gateway_of(request)
    assert gateway.signin is not None
    issued = await gateway.signin.redeem(body.code)
    if issued is None:
        raise ApiError(401, "this sign-in link is unknown, already used or expired")
    token, secret = issued
    return {**token.public(), "token": secret}


@router.get("/v1/whoami", summary="The token this request carries (never its secret)")
async def whoami(token: Annotated[ApiToken, Depends(require("read"))]) -> dict[str, Any]:
    return token.public()


@router.get("/v1/node", summary="This node: id, name, version, where traces are shown")
async def node(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    gateway = gateway_of(request)
    return {
        "node_id": gateway.node_id,
        "name": gateway.node_name,
        "version": __version__,
        "trace_url": gateway.settings.trace_url or None,
    }
