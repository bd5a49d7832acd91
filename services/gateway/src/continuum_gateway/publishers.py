"""Registered external publisher keys (Ed25519), whose signed events a node takes.

A key is written the way node ids are (base32 of the public key, 52
characters), so a publisher's id is self-certifying; base64 of the raw
32-byte public key is accepted too and converted.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

import asyncpg
from nacl.signing import VerifyKey

from continuum.identity import key_from_node_id, node_id_from_key
from continuum_gateway.tokens import TokenError, check_name


def normalize_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise TokenError("key must be an Ed25519 public key (node-id form or base64)")
    key = key.strip()
    try:
        key_from_node_id(key.lower())
        return key.lower()
    except ValueError:
        pass
    try:
        raw = base64.b64decode(key, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise TokenError(
            "key must be an Ed25519 public key: 52 base32 characters (as "
            "`continuum publisher keygen` prints) or base64 of 32 bytes"
        )
    return node_id_from_key(VerifyKey(raw))


class PublisherKeys:
    def __init__(self, pool: asyncpg.Pool, schema: str, cache_ttl: float = 2.0) -> None:
        self._pool = pool
        self._table = f"{schema}.publisher_keys"
        self._ttl = cache_ttl
        self._active: frozenset[str] = frozenset()
        self._loaded_at = float("-inf")

    async def add(self, name: object, key: object) -> dict[str, Any]:
        key_id = normalize_key(key)
        row = await self._pool.fetchrow(
            f"INSERT INTO {self._table} (key_id, name) VALUES ($1, $2) "
            "ON CONFLICT (key_id) DO UPDATE SET name = EXCLUDED.name, revoked_at = NULL "
            "RETURNING *",
            key_id,
            check_name(name),
        )
        self._loaded_at = float("-inf")
        return _public(row)

    async def list(self) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(f"SELECT * FROM {self._table} ORDER BY created_at")
        return [_public(r) for r in rows]

    async def revoke(self, key: object) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(
            f"UPDATE {self._table} SET revoked_at = coalesce(revoked_at, now()) "
            "WHERE key_id = $1 RETURNING *",
            normalize_key(key),
        )
        self._loaded_at = float("-inf")
        return _public(row) if row else None

    async def active(self) -> frozenset[str]:
        now = time.monotonic()
        if now - self._loaded_at > self._ttl:
            rows = await self._pool.fetch(
                f"SELECT key_id FROM {self._table} WHERE revoked_at IS NULL"
            )
            self._active = frozenset(r["key_id"] for r in rows)
            self._loaded_at = now
        return self._active


def _public(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "key": row["key_id"],
        "name": row["name"],
        "created_at": row["created_at"].isoformat(),
        "revoked_at": row["revoked_at"].isoformat() if row["revoked_at"] else None,
    }
