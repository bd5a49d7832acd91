"""The mesh's part of the node's AsyncAPI 3.0 document: what crosses leaf
links (the MESH account), so another implementation can speak to a node.

Produced from the models the agent validates with (adverts, envelopes,
generation orders, layer questions, market requests). LAN beacons are UDP, not NATS: they
are described in ``info`` of the channel that lists peers' adverts.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from continuum.events.asyncapi import REF_TEMPLATE, hoist
from continuum.mesh.adverts import SignedAdvert
from continuum.mesh.layers import ChunkAsk, ManifestAsk, SearchAsk
from continuum.mesh.market import MarketAsk
from continuum.mesh.orders import GenerationOrder
from continuum.mesh.sealing import Envelope

_NODE = {"nodeId": {"description": "a node id: its Ed25519 public key, base32 (52 characters)"}}


def _schema(model: type[BaseModel], shared: dict[str, Any]) -> dict[str, Any]:
    schema = hoist(model.model_json_schema(ref_template=REF_TEMPLATE), shared, model.__name__)
    shared.setdefault(f"Mesh{model.__name__}", schema)
    return {"$ref": f"#/components/schemas/Mesh{model.__name__}"}


def mesh_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    sealed = {
        **_schema(Envelope, schemas),
        "description": "A sealed box to the recipient's X25519 key, signed by the sender.",
    }
    accepted = {
        "type": "object",
        "properties": {"accepted": {"const": True}, "refused": {"type": "string"}},
    }
    messages: dict[str, Any] = {
        "mesh_advert": {
            "name": "advert",
            "title": "A node's signed advert",
            "summary": "Re-announced every CONTINUUM_MESH_ANNOUNCE_S and on change; expires.",
            "contentType": "application/json",
            "payload": _schema(SignedAdvert, schemas),
        },
        "mesh_solicit": {
            "name": "solicit",
            "title": "Announce yourselves",
            "summary": "The asking node's id; every node answers with its advert.",
            "contentType": "text/plain",
            "payload": {"type": "string"},
        },
        "mesh_ping": {
            "name": "ping",
            "title": "Round-trip probe (answered 'pong')",
            "contentType": "text/plain",
            "payload": {"type": "string", "enum": ["ping", "pong"]},
        },
        "mesh_generate": {
            "name": "generate",
            "title": "A sealed generation order",
            "summary": "Opens to a GenerationOrder; answered {accepted} or {refused}, then the "
            "answer's frames (SecretBox with the order's key, numbered) on its stream inbox.",
            "contentType": "application/json",
            "payload": sealed,
            "x-continuum-sealed-payload": _schema(GenerationOrder, schemas),
        },
        "mesh_generate_reply": {
            "name": "generate-reply",
            "title": "Order accepted or refused",
            "contentType": "application/json",
            "payload": accepted,
        },
        "mesh_layers": {
            "name": "layers",
            "title": "A sealed question to the node's genome registry",
            "summary": "Opens to a search, manifest or chunk question; the answer is sealed "
            "back to the asker (or {refused}).",
            "contentType": "application/json",
            "payload": sealed,
            "x-continuum-sealed-payload": {
                "oneOf": [_schema(m, schemas) for m in (SearchAsk, ManifestAsk, ChunkAsk)]
            },
        },
        "mesh_market": {
            "name": "market",
            "title": "A sealed request to the node's marketplace",
            "summary": "Opens to {op, body}: a marketplace command a market's users may send "
            "(listings, search, signed orders, usage reports and ratings, wallets, compute "
            "charges paid by the sender); the answer is sealed back (or {refused}).",
            "contentType": "application/json",
            "payload": sealed,
            "x-continuum-sealed-payload": _schema(MarketAsk, schemas),
        },
    }
    channels: dict[str, Any] = {
        "mesh.advert": {
            "address": "mesh.advert.{nodeId}",
            "description": "Every node's advert, heard by every linked node. (On a LAN, nodes "
            "also beacon their id, name and hub URL by UDP multicast 239.255.77.77:7423.)",
            "parameters": _NODE,
            "messages": {"advert": {"$ref": "#/components/messages/mesh_advert"}},
        },
        "mesh.solicit": {
            "address": "mesh.solicit",
            "messages": {"solicit": {"$ref": "#/components/messages/mesh_solicit"}},
        },
        "mesh.ping": {
            "address": "mesh.node.{nodeId}.ping",
            "parameters": _NODE,
            "messages": {"ping": {"$ref": "#/components/messages/mesh_ping"}},
        },
        "mesh.generate": {
            "address": "mesh.node.{nodeId}.generate",
            "parameters": _NODE,
            "messages": {"order": {"$ref": "#/components/messages/mesh_generate"}},
        },
        "mesh.generate.reply": {
            "address": None,
            "description": "The asking node's inbox (mesh.inbox.<its id>.…).",
            "messages": {"reply": {"$ref": "#/components/messages/mesh_generate_reply"}},
        },
        "mesh.layers": {
            "address": "mesh.node.{nodeId}.layers",
            "parameters": _NODE,
            "messages": {"question": {"$ref": "#/components/messages/mesh_layers"}},
        },
        "mesh.market": {
            "address": "mesh.node.{nodeId}.market",
            "parameters": _NODE,
            "messages": {"request": {"$ref": "#/components/messages/mesh_market"}},
        },
    }

    def op(action: str, channel: str, message: str) -> dict[str, Any]:
        return {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}],
        }

    operations = {
        "mesh.announce": op("send", "mesh.advert", "advert"),
        "mesh.hear": op("receive", "mesh.advert", "advert"),
        "mesh.solicit": op("send", "mesh.solicit", "solicit"),
        "mesh.ping": op("send", "mesh.ping", "ping"),
        "mesh.layers": op("send", "mesh.layers", "question"),
        "mesh.market": op("send", "mesh.market", "request"),
        "mesh.generate": {
            **op("send", "mesh.generate", "order"),
            "reply": {
                "channel": {"$ref": "#/channels/mesh.generate.reply"},
                "messages": [{"$ref": "#/channels/mesh.generate.reply/messages/reply"}],
            },
        },
    }
    return {
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }
