"""API tokens for the node's HTTP API: their format, their hash, the admin one.

A token is ``ctm_`` plus 256 random bits (URL-safe base64). Because it is
that random, a plain SHA-256 is a sound verifier: a slow password hash
protects guessable secrets, and these are not guessable. Only the hash is
stored; the token itself is shown once.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

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
    home.mkdir(parents=True, exist_ok=True)
    token = generate_token()
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    tmp.replace(path)
    return token
