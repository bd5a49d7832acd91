"""The mesh agent: adverts out and in, round trips, and serving what other
nodes ask of this one.

It talks to the mesh over a connection of its own, logged in to the MESH
account (the only account a leaf link reaches), and to this node's services
over the gateway's usual connection: nothing from the mesh reaches a service
except through the checks here (signature, freshness, replay, decryption,
a well-formed request).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import nats
import psutil
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.errors import KeyNotFoundError

from continuum import __version__
from continuum.mesh.adverts import Advert, AdvertRefused, Hardware, Offer, open_advert, sign_advert
from continuum.mesh.beacons import Beacon, BeaconService
from continuum.mesh.orders import GenerationOrder
from continuum.mesh.peers import PeerTable
from continuum.mesh.sealing import Refused, ReplayGuard, StreamCipher, open_sealed
from continuum.mesh.settings import MeshSettings
from continuum.mesh.subjects import (
    ADVERTS,
    PEERS_BUCKET,
    PERSONA_CHANGES,
    SOLICIT,
    advert_subject,
    generate_subject,
    inbox_prefix,
    layers_subject,
    market_subject,
    node_of_advert,
    ping_subject,
)
from continuum.natsauth import MESH, NatsLogin
from continuum.runtime import ServiceContext
from continuum.runtime.connections import connection_options
from continuum_gateway.mesh import layers, market
from continuum_gateway.mesh.local import generate_here

log = logging.getLogger("continuum.gateway.mesh")
#: Refusals kept for ``mesh peers`` (the log has them all).
_REFUSALS_KEPT = 50


@dataclass
class MeshAgent:
    ctx: ServiceContext
    settings: MeshSettings
    node_name: str
    table: PeerTable = field(default_factory=PeerTable)
    guard: ReplayGuard = field(default_factory=ReplayGuard)
    refusals: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_REFUSALS_KEPT))
    nc: Client | None = None
    _seq: int = 0
    _offers: dict[str, Any] = field(default_factory=dict)
    _own: Advert | None = None
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)
    beacons: BeaconService | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def node_id(self) -> str:
        return self.ctx.identity.node_id

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, nats_url: str) -> None:
        password = self.settings.nats_password.get_secret_value()
        options = connection_options(NatsLogin(MESH, password) if password else None)
        options["inbox_prefix"] = inbox_prefix(self.node_id)
        self.nc = await nats.connect(nats_url, name="continuum-mesh", **options)
        await self.nc.subscribe(ADVERTS, cb=self._on_advert)
        await self.nc.subscribe(SOLICIT, cb=self._on_solicit)
        await self.nc.subscribe(ping_subject(self.node_id), cb=self._on_ping)
        await self.nc.subscribe(generate_subject(self.node_id), cb=self._on_generate)
        await self.nc.subscribe(layers_subject(self.node_id), cb=self._on_layers)
        await self.nc.subscribe(market_subject(self.node_id), cb=self._on_market)
        await self._load_view()
        self._spawn(self._announce_loop())
        self._spawn(self._ping_loop())
        # A persona created, changed or re-layered here is announced at once,
        # not at the next period (the event is on this node's own NATS).
        await self.ctx.nc.subscribe(PERSONA_CHANGES, cb=self._on_persona_change)
        await self.nc.publish(SOLICIT, self.node_id.encode())
        if self.settings.lan:
            await self._start_beacons()

    async def _start_beacons(self) -> None:
        settings = self.settings
        beacons = BeaconService(
            self.ctx.identity,
            self.node_name,
            settings.lan_group,
            settings.lan_port,
            interface=settings.lan_interface,
            leaf_url=settings.leaf_url if settings.hub else "",
            on_new=self._on_lan_peer,
        )
        try:
            await beacons.start()
        except OSError as exc:  # no multicast here: the mesh works without the LAN view
            log.warning("mesh: LAN beacons off (%s)", exc)
            return
        self.beacons = beacons

    def _on_lan_peer(self, beacon: Beacon) -> None:
        hub = f", a hub at {beacon.leaf_url}" if beacon.leaf_url else ""
        log.info("mesh: LAN peer %s (%s)%s", beacon.name, beacon.node[:12], hub)

    def lan_nodes(self) -> dict[str, tuple[Beacon, float]]:
        """Nodes heard on the LAN lately; marks them ``lan`` in the table."""
        near = self.beacons.peers.near(time.time()) if self.beacons else {}
        self.table.lan = set(near)
        return near

    async def stop(self) -> None:
        self._stopping.set()
        if self.beacons is not None:
            await self.beacons.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await self.nc.drain()

    def _spawn(self, work: Awaitable[Any]) -> asyncio.Task[Any]:
        task: asyncio.Task[Any] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def refuse(self, reason: str, subject: str) -> None:
        """Log a refused advert or request, and keep it for ``mesh peers``."""
        log.warning("mesh: refused %s: %s", subject, reason)
        self.refusals.append({"at": time.time(), "subject": subject, "reason": reason})

    # -- our advert --------------------------------------------------------------------

    async def own_advert(self, refresh: bool = False) -> Advert:
        if self._own is None or refresh or self._own.expires_at - time.time() < 1.0:
            self._own = await self._build_advert()
        return self._own

    async def _build_advert(self) -> Advert:
        try:
            self._offers = await self.ctx.request("cmd.persona-runtime.offers", {}, timeout=10)
        except Exception as exc:  # persona-runtime restarting: advertise what was known
            log.debug("mesh: offers unavailable: %s", exc)
        now = time.time()
        self._seq = max(self._seq + 1, int(now * 1000))
        offers = [Offer.model_validate(p) for p in self._offers.get("personas", [])]
        memory = psutil.virtual_memory().total / 2**30
        return Advert(
            node=self.node_id,
            name=self.node_name,
            version=__version__,
            seq=self._seq,
            issued_at=now,
            expires_at=now + self.settings.advert_ttl_s,
            personas=offers,
            backends=list(self._offers.get("backends", [])),
            hardware=Hardware(cpus=os.cpu_count() or 0, memory_gb=round(memory, 1)),
            price=self.settings.price,
            queue_depth=int(self._offers.get("queue_depth", 0)),
            leaf_urls=[self.settings.leaf_url] if self.settings.hub else [],
            hubs=self.settings.hub_urls(self.ctx.settings.home),
        )

    async def solicit(self) -> None:
        """Ask every peer to announce itself, and announce this node: after a
        new link, both sides know each other at once."""
        assert self.nc is not None
        await self.nc.publish(SOLICIT, self.node_id.encode())
        await self.announce()

    async def announce(self) -> None:
        assert self.nc is not None
        advert = await self.own_advert(refresh=True)
        await self.nc.publish(advert_subject(self.node_id), sign_advert(advert, self.ctx.identity))

    async def _await_new_offers(self) -> None:
        """After a persona event: persona-runtime answers ``offers`` from its
        read model, which follows the event by a moment, so ask again
        (briefly backing off) until the advert differs, then let the loop
        announce it."""
        before = self._own
        for delay in (0.1, 0.3, 0.6, 1.2, 2.4):
            await asyncio.sleep(delay)
            if before is None or not before.offers_the_same(await self.own_advert(refresh=True)):
                return

    async def _on_persona_change(self, msg: Msg) -> None:
        """A persona created or updated changes the advert; what it remembers
        or how a turn went does not (those come with every chat turn)."""
        try:
            kind = str(json.loads(msg.data).get("type", ""))
        except (ValueError, AttributeError):
            kind = ""
        if not kind.endswith((".memory_added.v1", ".outcome_recorded.v1")):
            self._changed.set()

    async def _announce_loop(self) -> None:
        """Every period, and soon after a persona changes (changes that come
        in a burst, e.g. one per chat turn, make one announcement a second
        at most)."""
        while not self._stopping.is_set():
            self._changed.clear()
            try:
                await self.announce()
                await self._expire()
            except Exception as exc:
                log.warning("mesh: announcing failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), min(1.0, self.settings.announce_s))
            wake = asyncio.ensure_future(self._changed.wait())
            stop = asyncio.ensure_future(self._stopping.wait())
            rest = max(0.0, self.settings.announce_s - 1.0)
            await asyncio.wait({wake, stop}, timeout=rest, return_when=asyncio.FIRST_COMPLETED)
            wake.cancel()
            stop.cancel()
            if self._changed.is_set() and not self._stopping.is_set():
                with contextlib.suppress(Exception):
                    await self._await_new_offers()

    # -- their adverts -----------------------------------------------------------------

    async def _on_advert(self, msg: Msg) -> None:
        node = node_of_advert(msg.subject)
        if node == self.node_id:
            return
        try:
            advert = open_advert(msg.data, node)
            changed = self.table.offer(advert, time.time())
        except AdvertRefused as exc:
            self.refuse(str(exc), msg.subject)
            return
        if changed:
            log.info(
                "mesh: peer %s (%s) %d persona(s)", advert.name, node[:12], len(advert.personas)
            )
            await self._keep(node, msg.data)

    async def _on_solicit(self, msg: Msg) -> None:
        if msg.data.decode(errors="replace") != self.node_id:
            self._spawn(self.announce())

    async def _expire(self) -> None:
        for node in self.table.expire(time.time()):
            log.info("mesh: peer %s expired", node[:12])
            with contextlib.suppress(Exception):
                kv = await self.ctx.nc.jetstream().key_value(PEERS_BUCKET)
                await kv.delete(node)

    async def _keep(self, node: str, raw: bytes) -> None:
        """The per-node view (KV ``MESH_PEERS``): a restarted gateway knows its
        peers at once instead of after their next announcement."""
        try:
            kv = await self.ctx.nc.jetstream().key_value(PEERS_BUCKET)
            await kv.put(node, raw)
        except Exception as exc:
            log.debug("mesh: peer view not updated: %s", exc)

    async def _load_view(self) -> None:
        try:
            kv = await self.ctx.nc.jetstream().key_value(PEERS_BUCKET)
            keys = await kv.keys()
        except Exception as exc:  # no bucket, or no keys yet (an error in nats-py)
            log.debug("mesh: no peer view yet: %s", exc)
            return
        for node in keys:
            try:
                entry = await kv.get(node)
                if entry.value:
                    self.table.offer(open_advert(entry.value, node), time.time())
            except (AdvertRefused, KeyNotFoundError):
                with contextlib.suppress(Exception):
                    await kv.delete(node)

    # -- round trips -------------------------------------------------------------------

    async def _on_ping(self, msg: Msg) -> None:
        if msg.reply:
            await msg.respond(b"pong")

    async def _ping_loop(self) -> None:
        while not self._stopping.is_set():
            for peer in self.table.peers(time.time()):
                await self.ping(peer.advert.node)
            with contextlib.suppress(TimeoutError):  # RTTs stay fresh however slow adverts are
                await asyncio.wait_for(self._stopping.wait(), min(self.settings.announce_s, 5.0))

    async def ping(self, node: str) -> float | None:
        assert self.nc is not None
        started = time.perf_counter()
        try:
            await self.nc.request(ping_subject(node), b"ping", timeout=2.0)
        except Exception:
            return None
        ms = (time.perf_counter() - started) * 1000
        self.table.stats_of(node).observe_rtt(ms)
        return ms

    # -- serving other nodes -----------------------------------------------------------

    async def _on_generate(self, msg: Msg) -> None:
        try:
            sender, payload = open_sealed(msg.data, self.ctx.identity, self.guard)
            job = GenerationOrder.accept(sender, payload)
        except Refused as exc:
            self.refuse(str(exc), msg.subject)
            if msg.reply:
                await msg.respond(json.dumps({"refused": str(exc)}).encode())
            return
        if msg.reply:
            await msg.respond(b'{"accepted":true}')
        self._spawn(self._serve(job))

    async def _on_layers(self, msg: Msg) -> None:
        await layers.serve(self, msg)

    async def _on_market(self, msg: Msg) -> None:
        self._spawn(market.serve(self, msg))  # purchases wait on the ledger: answer in parallel

    async def _serve(self, job: GenerationOrder) -> None:
        """Generate for another node, every frame sealed with its stream key,
        a heartbeat in between so it can tell a slow node from a dead one."""
        assert self.nc is not None
        nc = self.nc
        cipher = StreamCipher(job.stream_key)
        lock = asyncio.Lock()

        async def send(frame: dict[str, Any]) -> None:
            async with lock:
                await nc.publish(job.stream, cipher.seal(frame))

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.settings.heartbeat_s)
                await send({"kind": "hb"})

        async def piece(text: str) -> None:
            await send({"kind": "piece", "text": text})

        heart = asyncio.create_task(beat())
        try:
            reply = await generate_here(
                self.ctx,
                persona=job.persona,
                prompt=job.prompt,
                max_tokens=job.max_tokens,
                continuation=job.continuation,
                on_piece=piece,
                timeout=600,
            )
            done = {k: reply.get(k) for k in _DONE_FIELDS}
            await send({"kind": "done", "result": done})
        except Exception as exc:
            await send({"kind": "error", "error": str(exc)[:500]})
        finally:
            heart.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heart


_DONE_FIELDS = ("persona", "status", "error", "tokens", "backend", "first_token_ms", "duration_ms")
