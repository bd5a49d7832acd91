"""The mesh's commands on the node (``cmd.gateway.mesh.*``), for the CLI and HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

from continuum.contracts import command
from continuum.contracts.commands import JoinCheck, MarketRelay, MeshGenerate, PeersQuery
from continuum.mesh.routing import NoRoute
from continuum.mesh.settings import MeshConfigError, check_hub_url
from continuum.natsauth.permissions import is_inbox
from continuum.runtime import RequestError, ServiceContext
from continuum_gateway.mesh.agent import MeshAgent
from continuum_gateway.mesh.layers import RemoteLayerError
from continuum_gateway.mesh.market import ask_market
from continuum_gateway.mesh.router import Emit, MeshRouter


def describe_peers(agent: MeshAgent) -> dict[str, Any]:
    """Every believed peer with what this node measured of it."""
    now = time.time()
    near = agent.lan_nodes()
    peers = []
    for peer in agent.table.peers(now):
        advert, stats = peer.advert, peer.stats
        peers.append(
            {
                "node": advert.node,
                "name": advert.name,
                "version": advert.version,
                "rtt_ms": None if stats.rtt_ms is None else round(stats.rtt_ms, 2),
                "last_seen_s": round(now - peer.received_at, 2),
                "expires_in_s": round(advert.expires_at - now, 2),
                "personas": [o.name for o in advert.personas],
                "domains": sorted({d for o in advert.personas for d in o.domains}),
                "layers": sorted({h for o in advert.personas for h in o.layers}),
                "backends": advert.backends,
                "hardware": advert.hardware.model_dump(),
                "price": advert.price,
                "queue_depth": advert.queue_depth,
                "reputation": round(stats.reputation, 3),
                "successes": stats.successes,
                "failures": stats.failures,
                "banned_s": round(max(0.0, stats.banned_until - now), 1),
                "lan": peer.lan,
                "leaf_urls": advert.leaf_urls,
                "hubs": advert.hubs,
            }
        )
    return {
        "node": agent.node_id,
        "name": agent.node_name,
        "hub": agent.settings.leaf_url if agent.settings.hub else None,
        "hubs": agent.settings.hub_urls(agent.ctx.settings.home),
        "peers": peers,
        "lan": [
            {
                "node": beacon.node,
                "name": beacon.name,
                "hub_url": beacon.leaf_url or None,
                "heard_s": round(now - heard, 2),
                "linked": beacon.node in agent.table.adverts,
            }
            for beacon, heard in sorted(near.values(), key=lambda b: b[0].name)
        ],
        "refused": list(agent.refusals)[-10:],
    }


async def register(ctx: ServiceContext, agent: MeshAgent) -> MeshRouter:
    router = MeshRouter(agent)

    async def peers(request: PeersQuery) -> dict[str, Any]:
        if request.solicit:
            await agent.solicit()
        return describe_peers(agent)

    async def generate(request: MeshGenerate) -> dict[str, Any]:
        stream = request.stream
        if stream is not None and not is_inbox(stream):
            raise RequestError("stream must be an inbox (_INBOX.… or _I.…)")

        async def emit(frame: dict[str, Any]) -> None:
            if stream is not None:
                await ctx.broker.publish(json.dumps(frame).encode(), stream)

        return await route(router, request, emit)

    async def check_join(request: JoinCheck) -> dict[str, Any]:
        return join_check(agent, request.url)

    async def market(request: MarketRelay) -> dict[str, Any]:
        """The market this node uses, for this node's services (the meter)."""
        try:
            return await ask_market(agent, request.op, request.body)
        except NoRoute as exc:
            raise RequestError(f"the market node is not in the mesh: {exc}", 503) from None
        except RemoteLayerError as exc:
            raise RequestError(exc.message, exc.status) from None

    await ctx.command(command("gateway", "mesh.check-join"), check_join)
    await ctx.command(command("gateway", "mesh.peers"), peers)
    await ctx.command(command("gateway", "mesh.generate"), generate)
    await ctx.command(command("gateway", "market"), market)
    return router


def join_check(agent: MeshAgent, url: str) -> dict[str, Any]:
    """Links must form a tree (NATS refuses loops): a hub this node already
    reaches, or this node itself, cannot be joined."""
    try:
        url = check_hub_url(url)
    except MeshConfigError as exc:
        return {"ok": False, "reason": str(exc)}
    if agent.settings.hub and url == agent.settings.leaf_url:
        return {"ok": False, "reason": f"{url} is this node's own leaf port"}
    if url in agent.settings.hub_urls(agent.ctx.settings.home):
        return {"ok": False, "reason": f"this node already joined {url}"}
    reached = agent.table.reaching(url)
    if reached is not None:
        return {
            "ok": False,
            "reason": f"joining {url} would close a loop: {reached.name or reached.node[:12]} "
            f"({reached.node[:12]}) is already reachable through the mesh",
        }
    return {"ok": True, "reason": ""}


async def route(router: MeshRouter, request: MeshGenerate, emit: Emit) -> dict[str, Any]:
    try:
        return await router.generate(request, emit)
    except NoRoute as exc:
        raise RequestError(str(exc), 404) from None
