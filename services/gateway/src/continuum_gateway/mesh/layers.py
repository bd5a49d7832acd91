"""Genome layers across the mesh: this node's registry answering peers, and
this node asking theirs (search everywhere, pull from one).

Serving: a sealed question on ``mesh.node.<id>.layers`` is opened, checked
(:mod:`continuum.mesh.layers`) and answered from this node's registry and
layer store, sealed back to the asker. Asking: a pulled layer is believed
only once its manifest verifies against the creator's signature and the
weights hash to what the manifest signed.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nats.aio.msg import Msg
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from pydantic import BaseModel, ValidationError

from continuum.events.genome import LayerManifest
from continuum.genome import LayerError, read_header, verify_manifest
from continuum.genome.blobs import LayerBlobs
from continuum.mesh.adverts import Advert
from continuum.mesh.layers import CHUNK_BYTES, ChunkAsk, ManifestAsk, SearchAsk, read_ask
from continuum.mesh.routing import NoRoute, in_scope
from continuum.mesh.sealing import Refused, open_sealed, seal
from continuum.mesh.subjects import layers_subject
from continuum.runtime.requests import ServiceRequestError

if TYPE_CHECKING:
    from continuum_gateway.mesh.agent import MeshAgent

log = logging.getLogger("continuum.gateway.mesh")

#: How long a peer has to answer one question.
ASK_TIMEOUT_S = 10.0


class RemoteLayerError(Exception):
    """A remote layer that cannot be had or believed; ``status`` for HTTP."""

    def __init__(self, message: str, status: int = 502) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# -- answering peers -------------------------------------------------------------------


async def serve(agent: MeshAgent, msg: Msg) -> None:
    """Answer one sealed question from a peer (a refusal is an answer too)."""
    try:
        sender, payload = open_sealed(msg.data, agent.ctx.identity, agent.guard)
        ask = read_ask(payload)
    except Refused as exc:
        agent.refuse(str(exc), msg.subject)
        if msg.reply:
            await msg.respond(json.dumps({"refused": str(exc)}).encode())
        return
    try:
        answer = await _answer(agent, ask)
    except ServiceRequestError as exc:
        answer = {"error": exc.message, "status": exc.code}
    except KeyError:
        answer = {"error": "no published weights with that sha256", "status": 404}
    except Exception as exc:  # the asker gets a reason instead of a timeout
        log.warning("mesh: layer request from %s failed: %s", sender[:12], exc)
        answer = {"error": f"this node could not answer: {exc}", "status": 502}
    if msg.reply:
        await msg.respond(seal(answer, agent.ctx.identity, sender))


async def _answer(agent: MeshAgent, ask: SearchAsk | ManifestAsk | ChunkAsk) -> dict[str, Any]:
    if isinstance(ask, SearchAsk):
        body = ask.model_dump(exclude={"op"})
        return await agent.ctx.request("cmd.genome-registry.search", body, timeout=30)
    if isinstance(ask, ManifestAsk):
        body = ask.model_dump(exclude={"op"})
        return await agent.ctx.request("cmd.genome-registry.manifest", body, timeout=30)
    data = await LayerBlobs(agent.ctx.nc.jetstream()).get_layer(ask.sha256)
    piece = data[ask.offset : ask.offset + ask.length]
    return {"size": len(data), "data": base64.b64encode(piece).decode()}


# -- asking peers ----------------------------------------------------------------------


async def ask_node(
    agent: MeshAgent, subject: str, node: str, question: dict[str, Any]
) -> dict[str, Any]:
    """Ask ``node`` one sealed question on ``subject``; its opened answer, or
    :class:`RemoteLayerError` (unreachable, silent, refused, unreadable, an error)."""
    assert agent.nc is not None
    sealed = seal(question, agent.ctx.identity, node)
    try:
        reply = await agent.nc.request(subject, sealed, timeout=ASK_TIMEOUT_S)
    except NoRespondersError:
        raise RemoteLayerError(f"node {node[:12]} is unreachable (no responders)") from None
    except NatsTimeout:
        raise RemoteLayerError(
            f"node {node[:12]} did not answer within {ASK_TIMEOUT_S:.0f}s", 504
        ) from None
    try:
        plain = json.loads(reply.data)
        if isinstance(plain, dict) and "refused" in plain:
            raise RemoteLayerError(f"node {node[:12]} refused: {plain['refused']}")
        sender, answer = open_sealed(reply.data, agent.ctx.identity, agent.guard)
    except (Refused, ValueError) as exc:
        raise RemoteLayerError(f"node {node[:12]} answered unreadably: {exc}") from None
    if sender != node:
        raise RemoteLayerError(f"an answer for node {node[:12]} came from {sender[:12]}")
    if "error" in answer:
        status = answer.get("status")
        raise RemoteLayerError(
            f"node {node[:12]}: {answer['error']}",
            status if isinstance(status, int) and 400 <= status < 500 else 502,
        )
    return answer


@dataclass
class RemoteLayers:
    agent: MeshAgent

    def peer(self, key: str) -> Advert:
        """A believed peer by id, id prefix (6+) or name."""
        adverts = [p.advert for p in self.agent.table.peers(time.time())]
        found = [
            a
            for a in adverts
            if key.lower() not in ("local", "lan", "global")
            and in_scope(key, a, local=False, lan=False)
        ]
        if not found:
            known = ", ".join(a.name or a.node[:12] for a in adverts)
            raise NoRoute(f"no node {key!r} in the mesh (known: {known or 'none'})")
        if len(found) > 1:
            raise NoRoute(f"{key!r} names {len(found)} nodes: give a node id")
        return found[0]

    async def ask(self, node: str, question: BaseModel) -> dict[str, Any]:
        return await ask_node(self.agent, layers_subject(node), node, question.model_dump())

    async def search(self, query: str, k: int, min_score: float) -> dict[str, Any]:
        """Every peer's registry at once; a peer that does not answer is
        named under ``unreachable`` instead of failing the search."""
        peers = self.agent.table.peers(time.time())
        question = SearchAsk(query=query, k=k, min_score=min_score)
        answers = await asyncio.gather(
            *(self.ask(p.advert.node, question) for p in peers), return_exceptions=True
        )
        results: list[dict[str, Any]] = []
        unreachable: list[dict[str, str]] = []
        for peer, answer in zip(peers, answers, strict=True):
            advert = peer.advert
            if isinstance(answer, BaseException):
                unreachable.append({"node": advert.node, "name": advert.name, "error": str(answer)})
                continue
            for result in answer.get("results", []):
                if isinstance(result, dict):
                    results.append({**result, "node": advert.node, "node_name": advert.name})
        return {"results": results, "unreachable": unreachable}

    async def manifest(self, key: str, layer: str, version: str) -> dict[str, Any]:
        """A peer's signed manifest, checked against the creator's signature."""
        advert = self.peer(key)
        signed = await self.ask(advert.node, ManifestAsk(layer=layer, version=version))
        try:
            manifest = LayerManifest.model_validate(signed.get("manifest"))
            verify_manifest(manifest, str(signed.get("signature", "")))
        except (ValidationError, LayerError) as exc:
            raise RemoteLayerError(
                f"the manifest of {layer} from {advert.name or advert.node[:12]} does not "
                f"verify: {str(exc).splitlines()[0]}"
            ) from None
        return {
            "manifest": manifest.model_dump(mode="json"),
            "signature": signed["signature"],
            "node": advert.node,
            "node_name": advert.name,
        }

    async def weights(self, key: str, sha256: str) -> bytes:
        """A peer's published weights, chunk by chunk; returned only if they
        hash to ``sha256`` and read as safetensors."""
        advert = self.peer(key)
        parts: list[bytes] = []
        offset, size = 0, None
        while size is None or offset < size:
            answer = await self.ask(advert.node, ChunkAsk(sha256=sha256, offset=offset))
            try:
                piece = base64.b64decode(str(answer["data"]), validate=True)
                size = int(answer["size"])
            except (KeyError, ValueError, TypeError):
                raise RemoteLayerError(f"node {advert.node[:12]} sent a malformed chunk") from None
            if not piece and offset < size:
                raise RemoteLayerError(f"node {advert.node[:12]} sent an empty chunk")
            parts.append(piece)
            offset += len(piece)
            if len(piece) > CHUNK_BYTES or offset > size:
                raise RemoteLayerError(f"node {advert.node[:12]} sent more than it announced")
        data = b"".join(parts)
        if hashlib.sha256(data).hexdigest() != sha256:
            raise RemoteLayerError(
                f"hash mismatch: the weights from {advert.name or advert.node[:12]} are not "
                f"the {sha256[:12]}… their manifest signed"
            )
        try:
            read_header(data)
        except LayerError as exc:
            raise RemoteLayerError(str(exc)) from None
        return data
