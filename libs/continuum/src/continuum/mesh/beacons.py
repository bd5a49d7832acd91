"""LAN beacons: nodes on one network segment find each other before any link.

Every node sends a small signed beacon to a UDP multicast group once a
second (TTL 1: it never leaves the segment) and listens on the group. A
beacon proposes a peer: its id, name, and where it accepts leaves if it is
a hub, so ``continuum mesh peers --lan`` can list who is near and
``continuum mesh join`` can take the printed URL. A node heard within
:data:`LAN_SILENCE_S` counts as on the LAN (exo drops a peer after 2.5 s
of silence), which is what ``--mesh lan`` routes among.

A beacon is signed like an advert: a forged one is dropped. It carries no
capabilities; those come in the node's advert once linked.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.identity import NodeIdentity, verify_signature
from continuum.mesh.adverts import CLOCK_SKEW_S, canonical

log = logging.getLogger(__name__)

#: The largest beacon a node accepts (one UDP datagram, well under a frame).
MAX_BEACON_BYTES = 1024
#: A LAN peer not heard for this long is no longer proposed (exo: 2.5 s).
LAN_SILENCE_S = 2.5
#: The most LAN peers kept: a flood of beacons from fresh keys cannot grow
#: the table without bound (the longest silent go first).
MAX_LAN_PEERS = 256


class BeaconRefused(ValueError):
    """A datagram on the group that is not a believable beacon."""


class Beacon(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node: str = Field(min_length=52, max_length=52)
    name: str = Field(default="", max_length=128)
    issued_at: float
    #: Where this node accepts leaves (a hub), ``nats-leaf://HOST:PORT``.
    leaf_url: str = Field(default="", max_length=256)


def encode_beacon(beacon: Beacon, identity: NodeIdentity) -> bytes:
    body = beacon.model_dump(mode="json")
    signature = base64.b64encode(identity.sign(canonical(body))).decode()
    return canonical({"beacon": body, "signature": signature})


def decode_beacon(data: bytes, now: float, max_age_s: float = LAN_SILENCE_S) -> Beacon:
    """The beacon in ``data`` if it is well formed, signed by the node it
    names and fresh; else :class:`BeaconRefused` with the reason."""
    if len(data) > MAX_BEACON_BYTES:
        raise BeaconRefused(f"beacon of {len(data)} bytes is over {MAX_BEACON_BYTES}")
    try:
        wire = json.loads(data)
        beacon = Beacon.model_validate(wire["beacon"])
        signature = base64.b64decode(wire["signature"], validate=True)
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BeaconRefused(f"malformed beacon: {first}") from None
    if not verify_signature(beacon.node, canonical(beacon.model_dump(mode="json")), signature):
        raise BeaconRefused(f"beacon of node {beacon.node[:12]} has a bad signature (forged)")
    if not now - max_age_s - CLOCK_SKEW_S <= beacon.issued_at <= now + CLOCK_SKEW_S:
        raise BeaconRefused(f"beacon of node {beacon.node[:12]} is stale or dated ahead")
    return beacon


@dataclass
class LanPeers:
    """Who was heard on the LAN, and when."""

    heard: dict[str, tuple[Beacon, float]] = field(default_factory=dict)

    def hear(self, beacon: Beacon, now: float) -> bool:
        """True when ``beacon`` is from a node not heard (recently) before."""
        new = beacon.node not in self.near(now)
        self.heard[beacon.node] = (beacon, now)
        if len(self.heard) > MAX_LAN_PEERS:
            oldest = min(self.heard, key=lambda node: self.heard[node][1])
            del self.heard[oldest]
        return new

    def near(self, now: float) -> dict[str, tuple[Beacon, float]]:
        self.heard = {n: b for n, b in self.heard.items() if now - b[1] <= LAN_SILENCE_S}
        return dict(self.heard)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes], None]) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.on_datagram(data)


@dataclass
class BeaconService:
    """Sends this node's beacon every ``period_s`` and hears the others'.

    ``interface`` is the IPv4 address of the interface to use: the host's
    default when empty, ``127.0.0.1`` in tests (loopback only)."""

    identity: NodeIdentity
    name: str
    group: str
    port: int
    interface: str = ""
    period_s: float = 1.0
    leaf_url: str = ""
    peers: LanPeers = field(default_factory=LanPeers)
    on_new: Callable[[Beacon], None] | None = None
    refused: int = 0
    _send: socket.socket | None = None
    _transport: asyncio.DatagramTransport | None = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self._received), sock=self._listening_socket()
        )
        self._send = self._sending_socket()
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._transport is not None:
            self._transport.close()
        if self._send is not None:
            self._send.close()

    def _listening_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):  # several nodes on one host share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", self.port))
        membership = socket.inet_aton(self.group) + socket.inet_aton(self.interface or "0.0.0.0")
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
        return sock

    def _sending_socket(self) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        if self.interface:
            sock.setsockopt(
                socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(self.interface)
            )
        sock.setblocking(False)
        return sock

    async def _loop(self) -> None:
        while True:
            self.send()
            await asyncio.sleep(self.period_s)

    def send(self) -> None:
        beacon = Beacon(
            node=self.identity.node_id,
            name=self.name,
            issued_at=time.time(),
            leaf_url=self.leaf_url,
        )
        assert self._send is not None
        try:
            self._send.sendto(encode_beacon(beacon, self.identity), (self.group, self.port))
        except OSError as exc:  # no route (no network yet): try again next period
            log.debug("mesh: beacon not sent: %s", exc)

    def _received(self, data: bytes) -> None:
        now = time.time()
        try:
            beacon = decode_beacon(data, now)
        except BeaconRefused as exc:
            self.refused += 1
            log.debug("mesh: %s", exc)
            return
        if beacon.node == self.identity.node_id:
            return
        if self.peers.hear(beacon, now) and self.on_new is not None:
            self.on_new(beacon)
