"""End-to-end protection of what nodes ask each other.

A request is sealed to the target node's X25519 key (converted from its
Ed25519 node key, so no second key is published) and the envelope is signed
by the sender: hubs relay ciphertext they can neither read nor alter, and the
target knows who asked. Inside the sealed request travels a fresh key for the
answer's stream, so each streamed piece costs one symmetric seal, not a key
agreement. A replayed envelope (a nonce seen before, or a timestamp outside
the window) is refused with its reason.
"""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox
from nacl.secret import SecretBox
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.identity import NodeIdentity, key_from_node_id, verify_signature
from continuum.mesh.adverts import canonical

#: How old (or how far ahead) an envelope may be; nonces are kept this long.
REPLAY_WINDOW_S = 60.0
MAX_ENVELOPE_BYTES = 256 * 1024


class Refused(ValueError):
    """An envelope or frame that is not accepted; the message says why."""


class Envelope(BaseModel):
    model_config = ConfigDict(extra="forbid")

    v: Literal[1] = 1
    sender: str = Field(min_length=52, max_length=52)
    recipient: str = Field(min_length=52, max_length=52)
    ts: float
    nonce: str = Field(min_length=32, max_length=32, pattern="^[0-9a-f]+$")
    box: str
    sig: str = ""

    def signed_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json", exclude={"sig"}))


def x25519_public(node_id: str) -> PublicKey:
    return key_from_node_id(node_id).to_curve25519_public_key()


def x25519_private(identity: NodeIdentity) -> PrivateKey:
    return identity.signing_key.to_curve25519_private_key()


def seal(
    payload: dict[str, Any], sender: NodeIdentity, recipient: str, now: float | None = None
) -> bytes:
    """``payload`` sealed to ``recipient`` and signed by ``sender``."""
    box = SealedBox(x25519_public(recipient)).encrypt(canonical(payload))
    envelope = Envelope(
        sender=sender.node_id,
        recipient=recipient,
        ts=time.time() if now is None else now,
        nonce=os.urandom(16).hex(),
        box=base64.b64encode(box).decode(),
    )
    envelope.sig = base64.b64encode(sender.sign(envelope.signed_bytes())).decode()
    return canonical(envelope.model_dump(mode="json"))


@dataclass
class ReplayGuard:
    """Nonces seen within the window; older envelopes are refused outright."""

    window_s: float = REPLAY_WINDOW_S
    _seen: dict[str, float] = field(default_factory=dict)

    def admit(self, envelope: Envelope, now: float) -> None:
        if abs(now - envelope.ts) > self.window_s:
            raise Refused(
                f"replayed or delayed request from {envelope.sender[:12]}: "
                f"dated {now - envelope.ts:+.0f}s from now (window {self.window_s:.0f}s)"
            )
        if envelope.nonce in self._seen:
            raise Refused(f"replayed request from {envelope.sender[:12]}: nonce seen before")
        if len(self._seen) > 4096:
            self._seen = {n: t for n, t in self._seen.items() if t > now - self.window_s}
        self._seen[envelope.nonce] = envelope.ts


def open_sealed(
    data: bytes, me: NodeIdentity, guard: ReplayGuard, now: float | None = None
) -> tuple[str, dict[str, Any]]:
    """(sender, payload) of an envelope sealed to ``me``; :class:`Refused` otherwise."""
    if len(data) > MAX_ENVELOPE_BYTES:
        raise Refused(f"request of {len(data)} bytes is over {MAX_ENVELOPE_BYTES}")
    try:
        envelope = Envelope.model_validate(json.loads(data))
        signature = base64.b64decode(envelope.sig, validate=True)
        box = base64.b64decode(envelope.box, validate=True)
    except (ValueError, TypeError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Refused(f"malformed request: {first}") from None
    if envelope.recipient != me.node_id:
        raise Refused(f"request for node {envelope.recipient[:12]}, not this one")
    if not verify_signature(envelope.sender, envelope.signed_bytes(), signature):
        raise Refused(f"request claiming to be from {envelope.sender[:12]} has a bad signature")
    guard.admit(envelope, time.time() if now is None else now)
    try:
        payload = json.loads(SealedBox(x25519_private(me)).decrypt(box))
    except (CryptoError, ValueError) as exc:
        raise Refused(f"request from {envelope.sender[:12]} does not decrypt: {exc}") from None
    if not isinstance(payload, dict):
        raise Refused("sealed payload is not an object")
    return envelope.sender, payload


class StreamCipher:
    """The answer's stream: frames sealed with the key the request carried,
    numbered so that a frame cannot be dropped, repeated or reordered
    unnoticed."""

    def __init__(self, key: bytes) -> None:
        if len(key) != SecretBox.KEY_SIZE:
            raise Refused("stream key must be 32 bytes")
        self._box = SecretBox(key)
        self._sent = 0
        self._expected = 0

    @staticmethod
    def new_key() -> bytes:
        return os.urandom(SecretBox.KEY_SIZE)

    def seal(self, frame: dict[str, Any]) -> bytes:
        body = canonical({**frame, "n": self._sent})
        self._sent += 1
        return bytes(self._box.encrypt(body))

    def open(self, data: bytes) -> dict[str, Any]:
        try:
            frame = json.loads(self._box.decrypt(data))
        except (CryptoError, ValueError) as exc:
            raise Refused(f"stream frame does not decrypt: {exc}") from None
        if not isinstance(frame, dict) or frame.get("n") != self._expected:
            raise Refused(f"stream frame out of order (expected {self._expected})")
        self._expected += 1
        return frame
