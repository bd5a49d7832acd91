"""One-time sign-in links: how `continuum ui` signs a browser in without a
token ever appearing in a URL.

The link carries a random code in its fragment (never sent to a server, so
never in a proxy's or the gateway's logs); the web app trades it once, by
POST, for a new token of the scopes the link was made with, then removes
the fragment from the address bar. Only the code's hash is stored, a code
works once and for minutes, and redeeming it creates the token in the same
transaction that spends the code: a failure leaves the code unspent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from continuum.api_tokens import hash_token
from continuum_gateway.tokens import (
    ApiToken,
    TokenError,
    TokenStore,
    check_name,
    check_scopes,
)

LINK_PREFIX = "cts_"
MAX_TTL_S = 24 * 3600


@dataclass(frozen=True)
class SignInLink:
    code: str
    name: str
    scopes: frozenset[str]
    expires_at: datetime


class SignInLinks:
    def __init__(self, pool: asyncpg.Pool, schema: str, tokens: TokenStore) -> None:
        self._pool = pool
        self._table = f"{schema}.signin_links"
        self._tokens = tokens

    async def create(self, by: ApiToken, name: object, scopes: object, ttl_s: int) -> SignInLink:
        """A link for a token named ``name`` with ``scopes``: never more than
        the creating token holds (an admin token holds every scope)."""
        checked_name, checked_scopes = check_name(name), check_scopes(scopes)
        beyond = sorted(s for s in checked_scopes if not by.allows(s))
        if beyond:
            raise TokenError(f"a link cannot grant scopes its creator lacks: {beyond}")
        code = LINK_PREFIX + secrets.token_urlsafe(32)
        expires_at = await self._pool.fetchval(
            f"INSERT INTO {self._table} (hash, name, scopes, created_by, expires_at) "
            "VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5)) RETURNING expires_at",
            hash_token(code),
            checked_name,
            sorted(checked_scopes),
            by.id,
            float(min(max(ttl_s, 10), MAX_TTL_S)),
        )
        return SignInLink(code, checked_name, checked_scopes, expires_at)

    async def redeem(self, code: str) -> tuple[ApiToken, str] | None:
        """A new token for a live, unspent code (spending it), else None."""
        if not code.startswith(LINK_PREFIX) or len(code) > 128:
            return None
        async with self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                f"UPDATE {self._table} SET used_at = now() WHERE hash = $1 "
                "AND used_at IS NULL AND expires_at > now() RETURNING name, scopes",
                hash_token(code),
            )
            if row is None:
                return None
            return await self._tokens.create(row["name"], list(row["scopes"]), conn)
