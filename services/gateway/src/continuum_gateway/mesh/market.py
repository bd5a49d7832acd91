"""The market over the mesh: this node's marketplace answering the nodes
that use it, and this node using another's (``CONTINUUM_MARKET``)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg

from continuum.mesh.market import RELAYED_BY_SENDER, MarketAsk, read_market_ask
from continuum.mesh.sealing import Refused, open_sealed, seal
from continuum.mesh.subjects import market_subject
from continuum.runtime.requests import ServiceRequestError
from continuum_gateway.mesh.layers import RemoteLayers, ask_node

if TYPE_CHECKING:
    from continuum_gateway.mesh.agent import MeshAgent

log = logging.getLogger("continuum.gateway.mesh")


async def serve(agent: MeshAgent, msg: Msg) -> None:
    """Answer one sealed market request from a peer with this node's marketplace."""
    try:
        sender, payload = open_sealed(msg.data, agent.ctx.identity, agent.guard)
        ask = read_market_ask(payload, sender)
    except Refused as exc:
        agent.refuse(str(exc), msg.subject)
        if msg.reply:
            await msg.respond(json.dumps({"refused": str(exc)}).encode())
        return
    body = {**ask.body, "via": sender} if ask.op in RELAYED_BY_SENDER else ask.body
    try:
        answer = await agent.ctx.request(f"cmd.marketplace.{ask.op}", body, timeout=30)
    except ServiceRequestError as exc:
        answer = {"error": exc.message, "status": exc.code}
    except Exception as exc:  # the asker gets a reason instead of a timeout
        log.warning("mesh: market request from %s failed: %s", sender[:12], exc)
        answer = {"error": f"this node's market could not answer: {exc}", "status": 502}
    if msg.reply:
        await msg.respond(seal(answer, agent.ctx.identity, sender))


@dataclass
class RemoteMarket:
    """Another node's market, named by id, id prefix or name (resolved per
    request, so it follows the node's advert)."""

    agent: MeshAgent
    key: str

    async def ask(self, op: str, body: dict[str, Any]) -> dict[str, Any]:
        node = RemoteLayers(self.agent).peer(self.key).node
        question = MarketAsk.model_validate({"op": op, "body": body})
        return await ask_node(self.agent, market_subject(node), node, question.model_dump())


async def ask_market(agent: MeshAgent, op: str, body: dict[str, Any]) -> dict[str, Any]:
    """``op`` on the market this node uses: its own marketplace, or the peer
    ``CONTINUUM_MARKET`` names (raises ``NoRoute``/``RemoteLayerError`` then)."""
    key = agent.ctx.settings.market
    if not key:
        return await agent.ctx.request(f"cmd.marketplace.{op}", body, timeout=30)
    return await RemoteMarket(agent, key).ask(op, body)
