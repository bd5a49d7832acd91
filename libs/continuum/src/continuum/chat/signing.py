"""Persona identities and the signatures on their messages.

A persona's Ed25519 key is derived from the node key and the persona id
(BLAKE2b as a keyed KDF), so it needs no storage of its own, is the same in
every replica that holds the node key, and changes with neither restarts nor
redeploys. Its public half is published in ``PersonaCreated``.
"""

from __future__ import annotations

import base64
import hashlib

from nacl.signing import SigningKey

from continuum.identity import NodeIdentity, node_id_from_key, verify_signature


def persona_identity(node: NodeIdentity, persona_id: str) -> NodeIdentity:
    seed = hashlib.blake2b(
        persona_id.encode(), key=bytes(node.signing_key), person=b"cntm-persona", digest_size=32
    ).digest()
    return NodeIdentity(SigningKey(seed))


def public_key(identity: NodeIdentity) -> str:
    return node_id_from_key(identity.signing_key.verify_key)


def _message(room_id: str, turn_id: str | None, text: str) -> bytes:
    return f"{room_id}\n{turn_id or ''}\n{text}".encode()


def sign_message(identity: NodeIdentity, room_id: str, turn_id: str | None, text: str) -> str:
    return base64.b64encode(identity.sign(_message(room_id, turn_id, text))).decode()


def verify_message(key: str, signature: str, room_id: str, turn_id: str | None, text: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except ValueError:
        return False
    return verify_signature(key, _message(room_id, turn_id, text), raw)
