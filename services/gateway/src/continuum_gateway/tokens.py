"""API tokens: created with scopes, stored as SHA-256 hashes, revocable.

Scopes: ``read`` (queries, the event stream), ``publish`` (append events),
``admin`` (tokens and publisher keys; implies the other two).

Authentication looks a token up by its hash and caches the answer for
``cache_ttl`` seconds, so a busy client costs one query per TTL rather than
one per request; a revocation therefore takes effect on other replicas
within that TTL (immediately on the replica that revoked it).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from continuum.api_tokens import generate_token, hash_token
from continuum.ids import uuid7_str

SCOPES = ("read", "publish", "admin")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class TokenError(ValueError):
    """A token request that cannot be honoured; the message says why."""


@dataclass(frozen=True)
class ApiToken:
    id: str
    name: str
    scopes: frozenset[str]
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "scopes": sorted(self.scopes),
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def check_name(name: object, what: str = "name") -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise TokenError(
            f"{what} must be 1-64 characters of letters, digits, space . _ - "
            "(starting with a letter or digit)"
        )
    return name


def check_scopes(scopes: object) -> frozenset[str]:
    if not isinstance(scopes, list | tuple | set | frozenset) or not scopes:
        raise TokenError(f"scopes must be a non-empty list drawn from {', '.join(SCOPES)}")
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise TokenError(f"unknown scope(s) {unknown!r}; scopes are {', '.join(SCOPES)}")
    return frozenset(scopes)


def check_token_id(token_id: object) -> str:
    if not isinstance(token_id, str) or not _UUID.match(token_id):
        raise TokenError("token id must be a UUID as `continuum token list` shows it")
    return token_id


def _token(row: asyncpg.Record) -> ApiToken:
    return ApiToken(
        id=str(row["id"]),
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
        last_used_at=row["last_used_at"],
    )


class TokenStore:
    def __init__(self, pool: asyncpg.Pool, schema: str, cache_ttl: float = 2.0) -> None:
        self._pool = pool
        self._table = f"{schema}.api_tokens"
        self._ttl = cache_ttl
        self._cache: dict[bytes, tuple[float, ApiToken | None]] = {}

    async def create(
        self, name: object, scopes: object, conn: asyncpg.Connection | None = None
    ) -> tuple[ApiToken, str]:
        """A new token; the secret is returned once and never stored. ``conn``
        puts the insert in a caller's transaction."""
        checked_name, checked_scopes = check_name(name), check_scopes(scopes)
        secret = generate_token()
        row = await (conn or self._pool).fetchrow(
            f"INSERT INTO {self._table} (id, name, scopes, hash) VALUES ($1, $2, $3, $4) "
            "RETURNING *",
            uuid7_str(),
            checked_name,
            sorted(checked_scopes),
            hash_token(secret),
        )
        return _token(row), secret

    async def ensure(self, secret: str, name: str, scopes: frozenset[str]) -> bool:
        """Register a token handed in from outside (the node's admin token).
        A token that was revoked stays revoked."""
        status = await self._pool.execute(
            f"INSERT INTO {self._table} (id, name, scopes, hash) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (hash) DO NOTHING",
            uuid7_str(),
            name,
            sorted(scopes),
            hash_token(secret),
        )
        return bool(status.endswith(" 1"))

    async def list(self) -> list[ApiToken]:
        rows = await self._pool.fetch(f"SELECT * FROM {self._table} ORDER BY created_at")
        return [_token(r) for r in rows]

    async def revoke(self, token_id: object) -> ApiToken | None:
        row = await self._pool.fetchrow(
            f"UPDATE {self._table} SET revoked_at = coalesce(revoked_at, now()) "
            "WHERE id = $1 RETURNING *",
            check_token_id(token_id),
        )
        self._cache.clear()
        return _token(row) if row else None

    async def authenticate(self, secret: str) -> ApiToken | None:
        """The live token ``secret`` stands for, or None."""
        if not secret or len(secret) > 256:
            return None
        digest = hash_token(secret)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        row = await self._pool.fetchrow(
            f"UPDATE {self._table} SET last_used_at = now() "
            "WHERE hash = $1 AND revoked_at IS NULL RETURNING *",
            digest,
        )
        token = _token(row) if row else None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._ttl, token)
        return token
