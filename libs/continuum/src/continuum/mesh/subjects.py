"""The subjects of the MESH account (the only ones a leaf link carries)."""

from __future__ import annotations

#: Every node's signed advert: ``mesh.advert.<node id>``.
ADVERTS = "mesh.advert.*"
#: "Announce yourselves": sent by a node that just joined (or came back).
SOLICIT = "mesh.solicit"
#: This node's own persona events (on its NODE account): re-announce when they come.
PERSONA_CHANGES = "evt.persona.persona.*"
#: The per-node view of believed adverts (a KV bucket of the node's own JetStream).
PEERS_BUCKET = "MESH_PEERS"


def advert_subject(node: str) -> str:
    return f"mesh.advert.{node}"


def node_of_advert(subject: str) -> str:
    return subject.rsplit(".", 1)[-1]


def ping_subject(node: str) -> str:
    return f"mesh.node.{node}.ping"


def generate_subject(node: str) -> str:
    return f"mesh.node.{node}.generate"


def layers_subject(node: str) -> str:
    """Sealed questions to a node's genome registry (search, manifest, weights)."""
    return f"mesh.node.{node}.layers"


def market_subject(node: str) -> str:
    """Sealed requests to the marketplace a node runs (for nodes that use it)."""
    return f"mesh.node.{node}.market"


def inbox_prefix(node: str) -> str:
    """Where a node's replies and answer streams arrive: inside ``mesh.>``,
    so they cross leaf links, and under the node's id, so a stream names
    the node that asked."""
    return f"mesh.inbox.{node}"
