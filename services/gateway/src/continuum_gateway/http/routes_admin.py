"""Health, discovery, documents, API tokens and publisher keys."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from continuum.node import probe
from continuum_gateway.http.app import gateway_of
from continuum_gateway.http.auth import require
from continuum_gateway.http.errors import ApiError
from continuum_gateway.tokens import SCOPES, ApiToken, TokenError

router = APIRouter()


@router.get("/healthz", summary="The process is up (no token needed)")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="NATS and PostgreSQL are reachable (no token needed)")
async def readyz(request: Request) -> JSONResponse:
    gateway = gateway_of(request)
    postgres = True
    try:
        async with gateway.pool.acquire(timeout=2) as conn:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 2)
    except Exception:
        postgres = False
    nats = gateway.nc.is_connected
    ready = postgres and nats
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "nats": nats, "postgres": postgres},
        status_code=200 if ready else 503,
    )


@router.get("/v1/services", summary="Service instances that answer $SRV.PING")
async def services(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    found = await probe.discover(gateway_of(request).nc)
    return {
        "services": [
            {k: s.get(k) for k in ("name", "id", "version", "description", "metadata")}
            for s in found
        ]
    }


@router.get("/openapi.json", summary="This API's OpenAPI document")
async def openapi(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    document: dict[str, Any] = request.app.openapi()
    return document


@router.get(
    "/asyncapi.json",
    summary="The node's NATS interface (commands, signals, events) as an AsyncAPI 3.0 document",
)
async def asyncapi(
    request: Request, _: Annotated[ApiToken, Depends(require("read"))]
) -> dict[str, Any]:
    return gateway_of(request).asyncapi


_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$"
#: An Ed25519 public key as ``continuum publisher keygen`` prints it, or base64.
PUBLISHER_KEY = r"^([A-Za-z2-7]{52}|[A-Za-z0-9+/]{43}=)$"


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="What the token is for.")
    scopes: list[Literal["read", "publish", "admin"]] = Field(
        min_length=1, max_length=3, description=f"From {SCOPES}."
    )


class NewPublisher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="Who publishes with this key.")
    key: str = Field(
        pattern=PUBLISHER_KEY,
        description="Ed25519 public key: 52 base32 characters (node-id form) or base64 of "
        "32 bytes.",
    )


def _client_error(exc: TokenError) -> ApiError:
    return ApiError(400, str(exc))


@router.get("/v1/tokens", summary="API tokens (never their secrets)")
async def list_tokens(
    request: Request, _: Annotated[ApiToken, Depends(require("admin"))]
) -> dict[str, Any]:
    return {"tokens": [t.public() for t in await gateway_of(request).tokens.list()]}


@router.post("/v1/tokens", status_code=201, summary="Create a token (its secret is shown once)")
async def create_token(
    request: Request, body: NewToken, _: Annotated[ApiToken, Depends(require("admin"))]
) -> dict[str, Any]:
    try:
        token, secret = await gateway_of(request).tokens.create(body.name, body.scopes)
    except TokenError as exc:
        raise _client_error(exc) from None
    return {**token.public(), "token": secret}


@router.delete("/v1/tokens/{token_id}", summary="Revoke a token")
async def revoke_token(
    request: Request,
    token_id: Annotated[str, Path(pattern=_UUID, description="As `continuum token list` shows.")],
    _: Annotated[ApiToken, Depends(require("admin"))],
) -> dict[str, Any]:
    try:
        token = await gateway_of(request).tokens.revoke(token_id)
    except TokenError as exc:
        raise _client_error(exc) from None
    if token is None:
        raise ApiError(404, f"no token with id {token_id}")
    return token.public()


@router.get("/v1/publishers", summary="Registered publisher keys")
async def list_publishers(
    request: Request, _: Annotated[ApiToken, Depends(require("admin"))]
) -> dict[str, Any]:
    return {"publishers": await gateway_of(request).publishers.list()}


@router.post("/v1/publishers", status_code=201, summary="Register a publisher key")
async def add_publisher(
    request: Request, body: NewPublisher, _: Annotated[ApiToken, Depends(require("admin"))]
) -> dict[str, Any]:
    try:
        return await gateway_of(request).publishers.add(body.name, body.key)
    except TokenError as exc:
        raise _client_error(exc) from None


@router.delete("/v1/publishers/{key}", summary="Revoke a publisher key")
async def revoke_publisher(
    request: Request,
    key: Annotated[str, Path(pattern=PUBLISHER_KEY, description="The key, as registered.")],
    _: Annotated[ApiToken, Depends(require("admin"))],
) -> dict[str, Any]:
    try:
        found = await gateway_of(request).publishers.revoke(key)
    except TokenError as exc:
        raise _client_error(exc) from None
    if found is None:
        raise ApiError(404, "no such publisher key")
    return found
