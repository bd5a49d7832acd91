"""Adverts: what a node offers the mesh, signed by it and believed for a while.

A node announces itself on ``mesh.advert.<node id>``: its personas (names,
domains, the hashes of their genome layers), backends and hardware, its price
per generation, its queue depth and its version, and, on a hub, where leaves
may join it. The node id is the public key, so a peer checks the signature
from the advert alone. An advert expires (the announcing node re-announces
well before), so a node that goes away drops out of every table by itself;
a newer sequence number replaces an older one, and an advert that is not
newer than the one held is a replay.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.identity import NodeIdentity, verify_signature

#: The largest advert a peer accepts (a node with many personas fits easily).
MAX_ADVERT_BYTES = 64 * 1024
#: Clocks of nodes differ: an advert dated this far ahead is still believed.
CLOCK_SKEW_S = 30.0


class AdvertRefused(ValueError):
    """An advert that is not believed; the message says why (it is logged)."""


class Offer(BaseModel):
    """One persona a node serves."""

    model_config = ConfigDict(extra="forbid")

    persona: str = Field(max_length=64, description="Persona id.")
    name: str = Field(max_length=128)
    role: str = Field(default="", max_length=512)
    domains: list[str] = Field(default_factory=list, max_length=32)
    #: sha256 of each genome layer, in stack order.
    layers: list[str] = Field(default_factory=list, max_length=64)
    backend: str = Field(default="", max_length=64)
    #: Embedding of "name: role; domains", float16 base64 (capability routing).
    embedding: str = Field(default="", max_length=4096)


class Hardware(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpus: int = Field(default=0, ge=0)
    memory_gb: float = Field(default=0.0, ge=0)
    accelerator: str = Field(default="", max_length=128)


class Advert(BaseModel):
    """What one node offers; ``signature`` covers every other field."""

    model_config = ConfigDict(extra="forbid")

    node: str = Field(min_length=52, max_length=52)
    name: str = Field(default="", max_length=128)
    version: str = Field(default="", max_length=64)
    seq: int = Field(ge=0, description="Increases with every announcement of this node.")
    issued_at: float
    expires_at: float
    personas: list[Offer] = Field(default_factory=list, max_length=256)
    backends: list[str] = Field(default_factory=list, max_length=16)
    hardware: Hardware = Field(default_factory=Hardware)
    price: float = Field(default=0.0, ge=0, description="Per generation; 0 = free.")
    queue_depth: int = Field(default=0, ge=0)
    #: Where leaves may join this node (a hub), ``nats-leaf://HOST:PORT``.
    leaf_urls: list[str] = Field(default_factory=list, max_length=8)
    #: Hubs this node is a leaf of, as it was told them (loop checks).
    hubs: list[str] = Field(default_factory=list, max_length=8)

    def signed_bytes(self) -> bytes:
        return canonical(self.model_dump(mode="json"))

    def offers_the_same(self, other: Advert) -> bool:
        """Whether ``other`` offers what this one does (leaving out what
        changes with every announcement: sequence, times, queue depth)."""
        moving = {"seq", "issued_at", "expires_at", "queue_depth"}
        return self.model_dump(exclude=moving) == other.model_dump(exclude=moving)

    def serves(self, persona: str) -> Offer | None:
        wanted = persona.strip().lower()
        for offer in self.personas:
            if wanted in (offer.persona.lower(), offer.name.lower()):
                return offer
        return None


class SignedAdvert(BaseModel):
    """An advert as it goes on the wire (``mesh.advert.<node id>``)."""

    model_config = ConfigDict(extra="forbid")

    advert: Advert
    signature: str = Field(description="Ed25519 signature (base64) of the advert's canonical JSON.")


def canonical(value: Any) -> bytes:
    """One byte string per value, whoever serialises it: what is signed."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_advert(advert: Advert, identity: NodeIdentity) -> bytes:
    """The advert as it goes on the wire."""
    if advert.node != identity.node_id:
        raise ValueError("a node signs only its own advert")
    signature = base64.b64encode(identity.sign(advert.signed_bytes())).decode()
    return canonical({"advert": advert.model_dump(mode="json"), "signature": signature})


def open_advert(data: bytes, subject_node: str, now: float | None = None) -> Advert:
    """The advert in ``data`` if it is well formed, signed by the node it
    names, announced on that node's subject and not expired; else
    :class:`AdvertRefused` with the reason."""
    if len(data) > MAX_ADVERT_BYTES:
        raise AdvertRefused(f"advert of {len(data)} bytes is over {MAX_ADVERT_BYTES}")
    try:
        wire = SignedAdvert.model_validate_json(data)
        advert, signature = wire.advert, base64.b64decode(wire.signature, validate=True)
    except (ValueError, TypeError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise AdvertRefused(f"malformed advert: {first}") from None
    if advert.node != subject_node:
        raise AdvertRefused(
            f"advert for node {advert.node[:12]} announced on node {subject_node[:12]}'s subject"
        )
    if not verify_signature(advert.node, advert.signed_bytes(), signature):
        raise AdvertRefused(f"advert of node {advert.node[:12]} has a bad signature (forged)")
    now = time.time() if now is None else now
    if advert.expires_at <= now:
        raise AdvertRefused(
            f"advert of node {advert.node[:12]} expired {now - advert.expires_at:.0f}s ago"
        )
    if advert.issued_at > now + CLOCK_SKEW_S:
        raise AdvertRefused(f"advert of node {advert.node[:12]} is dated in the future")
    return advert
