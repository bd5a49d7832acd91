"""Node identity: an Ed25519 key pair, created on first start.

The node id is the base32 form of the public key, so it is self-certifying:
anyone holding an event can check its signature from the node id alone, with
no key server. Trust (which node ids to accept) is a separate policy.
"""

from __future__ import annotations

import base64
import os
import stat
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

KEY_FILE = "node.key"
_NODE_ID_LEN = 52  # base32 of 32 bytes, padding stripped


class IdentityError(Exception):
    """The node key file is missing, unreadable, too open or malformed."""


def node_id_from_key(key: VerifyKey) -> str:
    return base64.b32encode(bytes(key)).decode("ascii").rstrip("=").lower()


@lru_cache(maxsize=4096)
def key_from_node_id(node_id: str) -> VerifyKey:
    """Recover the public key from a node id; raises ValueError if it is not one."""
    if len(node_id) != _NODE_ID_LEN:
        raise ValueError(f"node id must be {_NODE_ID_LEN} base32 characters, got {len(node_id)}")
    try:
        raw = base64.b32decode(node_id.upper() + "====")
    except ValueError as exc:  # binascii.Error is a ValueError
        raise ValueError(f"node id is not base32: {exc}") from None
    return VerifyKey(raw)


@dataclass(frozen=True)
class NodeIdentity:
    signing_key: SigningKey

    @cached_property
    def node_id(self) -> str:
        # Cached: every event built or signed names it (base32 costs ~5 us).
        return node_id_from_key(self.signing_key.verify_key)

    @property
    def short_id(self) -> str:
        return self.node_id[:12]

    @property
    def seal_key(self) -> bytes:
        """Secret for the node seal (see continuum.events.seal), derived from the key."""
        from continuum.events.seal import seal_key_from_seed

        return seal_key_from_seed(bytes(self.signing_key))

    def sign(self, message: bytes) -> bytes:
        return bytes(self.signing_key.sign(message).signature)

    @classmethod
    def generate(cls) -> NodeIdentity:
        return cls(SigningKey.generate())

    @classmethod
    def from_seed(cls, encoded: str, where: str) -> NodeIdentity:
        try:
            seed = base64.b64decode(encoded.strip(), validate=True)
            return cls(SigningKey(seed))
        except (ValueError, TypeError) as exc:
            raise IdentityError(f"{where} is not a valid node key: {exc}") from None

    @classmethod
    def configured(cls, home: Path, encoded_key: str = "") -> NodeIdentity:
        """The key given in settings (containers, from a Secret), else the home's file."""
        if encoded_key:
            return cls.from_seed(encoded_key, "CONTINUUM_NODE_KEY")
        return cls.load_or_create(home)

    @classmethod
    def load_or_create(cls, home: Path) -> NodeIdentity:
        """Load ``home/node.key``, creating it (mode 0600) on first start."""
        path = home / KEY_FILE
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            key = SigningKey.generate()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64encode(bytes(key)) + b"\n")
            return cls(key)
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise IdentityError(
                f"{path} is readable by others (mode {mode:o}); run: chmod 600 {path}"
            )
        return cls.from_seed(path.read_text(errors="replace"), str(path))


def verify_signature(node_id: str, message: bytes, signature: bytes) -> bool:
    try:
        key_from_node_id(node_id).verify(message, signature)
    except (BadSignatureError, ValueError):
        return False
    return True
