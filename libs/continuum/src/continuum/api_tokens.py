"""API tokens for the node's HTTP API: their format, their hash, the admin one.

A token is ``ctm_`` plus 256 random bits (URL-safe base64). Because it is
that random, a plain SHA-256 is a sound verifier: a slow password hash
protects guessable secrets, and these are not guessable. Only the hash is
stored; the token itself is shown once.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from continuum.secretfile import write_private

TOKEN_PREFIX = "ctm_"  # noqa: S105 - a format marker
ADMIN_TOKEN_FILE = "admin.token"  # noqa: S105 - a file name


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def ensure_admin_token(home: Path) -> str:
    """The node's bootstrap admin token, created on first use at
    ``<home>/admin.token`` (mode 0600)."""
    path = home / ADMIN_TOKEN_FILE
    if path.exists():
        token = path.read_text().strip()
        if token.startswith(TOKEN_PREFIX):
            return token
    token = generate_token()
    write_private(path, token + "\n")
    return token
