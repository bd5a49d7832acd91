"""NATS NKeys from the node's Ed25519 identity.

An NKey is an Ed25519 key written as base32 with a one-letter role prefix and
a CRC16: the node key *is* one, so a leaf link authenticates with the same key
that signs the node's events and adverts (no second secret to manage). The
encoding is small enough to write here rather than pull the ``nkeys`` package
into every image.
"""

from __future__ import annotations

import base64

from nacl.signing import SigningKey

from continuum.identity import key_from_node_id

_PREFIX_SEED = 18 << 3
_PREFIX_USER = 20 << 3


def _crc16(data: bytes) -> int:
    """CRC-16/XMODEM, the checksum NKeys append."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _encode(prefix: bytes, raw: bytes) -> str:
    body = prefix + raw
    return base64.b32encode(body + _crc16(body).to_bytes(2, "little")).decode().rstrip("=")


def user_public_key(node_id: str) -> str:
    """The ``U...`` NKey of a node (what a hub lists to admit it)."""
    return _encode(bytes([_PREFIX_USER]), bytes(key_from_node_id(node_id)))


def user_seed(signing_key: SigningKey) -> str:
    """The ``SU...`` seed nats-server signs a leaf connection's nonce with."""
    prefix = bytes([_PREFIX_SEED | (_PREFIX_USER >> 5), (_PREFIX_USER & 31) << 3])
    return _encode(prefix, bytes(signing_key))
