"""Bearer-token authentication, scope checks and the per-token rate limit.

A token comes in ``Authorization: Bearer <token>``. Browsers' EventSource
and WebSocket cannot set headers, so the live streams (and only they) also
take ``?access_token=`` (the gateway never logs query strings); anywhere
else a token in the URL would end up in proxies' logs and browser history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from continuum_gateway.http.app import Gateway, gateway_of
from continuum_gateway.http.errors import ApiError
from continuum_gateway.tokens import ApiToken

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def bearer(authorization: str | None, query_token: str | None) -> str | None:
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(401, "Authorization must be `Bearer <token>`", _CHALLENGE)
        return value.strip()
    return query_token or None


async def authorize(
    gateway: Gateway, authorization: str | None, query_token: str | None, scope: str
) -> ApiToken:
    secret = bearer(authorization, query_token)
    if secret is None:
        raise ApiError(401, "an API token is required (Authorization: Bearer <token>)", _CHALLENGE)
    token = await gateway.tokens.authenticate(secret)
    if token is None:
        raise ApiError(401, "the API token is invalid or revoked", _CHALLENGE)
    if not token.allows(scope):
        raise ApiError(
            403, f"token {token.name!r} lacks the {scope!r} scope (it has {sorted(token.scopes)})"
        )
    wait = gateway.limiter.acquire(token.id)
    if wait > 0:
        raise ApiError(
            429,
            f"rate limit of {gateway.limiter.rate:g} requests/s for this token exceeded",
            {"Retry-After": str(max(1, round(wait + 0.5)))},
        )
    return token


def require(scope: str, *, query_token: bool = False) -> Callable[[Request], Awaitable[ApiToken]]:
    """A dependency that authorizes ``scope``; ``query_token`` also takes
    ``?access_token=`` (for streams a browser opens without headers)."""

    async def dependency(request: Request) -> ApiToken:
        return await authorize(
            gateway_of(request),
            request.headers.get("authorization"),
            request.query_params.get("access_token") if query_token else None,
            scope,
        )

    return dependency
