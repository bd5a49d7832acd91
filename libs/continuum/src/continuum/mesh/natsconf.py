"""The mesh part of a node's nats.conf: the MESH account and the leaf links.

Everything that crosses a leaf link lives in an account of its own, MESH,
holding nothing but ``mesh.>``: a leaf link is bound to it on both ends, so a
remote node cannot publish into this node's ``evt.*``, ``cmd.*`` or
``ingress.*`` (those live in the node's own account, which no link reaches),
and the users a link authenticates as may only publish and subscribe to
``mesh.>`` besides. A leaf authenticates with its node key as an NKey; a hub
lists the NKeys of the nodes it admits.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from continuum.mesh.nkeys import user_public_key

MESH_ACCOUNT = "MESH"
#: The account of the node's own processes and external tools (its streams).
NODE_ACCOUNT = "NODE"
MESH_SUBJECTS = "mesh.>"
#: nats-server reads the leaf's NKey seed from this variable (never the file).
SEED_VARIABLE = "CONTINUUM_MESH_NKEY_SEED"


def _only_mesh(*, responses: bool = False) -> str:
    """Permissions to publish and subscribe to ``mesh.>`` and nothing else."""
    allow = f'{{allow: ["{MESH_SUBJECTS}"]}}'
    more = ", allow_responses: true" if responses else ""
    return f"permissions: {{publish: {allow}, subscribe: {allow}{more}}}"


@dataclass(frozen=True)
class MeshLinks:
    """What one node's NATS server does in the mesh."""

    #: ``host:port`` leaves connect to, or empty where this node is no hub.
    listen: str = ""
    #: Hub URLs this node connects to as a leaf.
    hubs: tuple[str, ...] = ()
    #: How often nats-server pings every connection (leaf links included).
    ping_interval: str = "500ms"


def mesh_account(password_variable: str, admitted: Sequence[str] = ()) -> str:
    """``MESH {...}`` (inside ``accounts``): the node's own mesh login, plus
    one user per admitted node."""
    users = [
        f'      {{user: "mesh", password: ${password_variable}, {_only_mesh(responses=True)}}}\n'
    ]
    users += [
        f"      # admitted node {node_id}\n"
        f"      {{nkey: {user_public_key(node_id)}, {_only_mesh()}}}\n"
        for node_id in admitted
    ]
    return f"  {MESH_ACCOUNT} {{\n    users = [\n{''.join(users)}    ]\n  }}\n"


def leafnodes_block(links: MeshLinks, seed: str | None = None) -> str:
    """``leafnodes {...}``: where a hub listens and which hubs a leaf dials.
    Always present, so that ``continuum mesh join`` adds a remote with a
    config reload (nats-server reloads remotes, not a new leafnodes block).

    The leaf's NKey seed is read from :data:`SEED_VARIABLE`, or written in
    when ``seed`` is given (a container's config, rendered into memory)."""
    lines = ["leafnodes {", '  reconnect: "1s"']
    if links.listen:
        lines.append(f"  listen: {json.dumps(links.listen)}")
    nkey = json.dumps(seed) if seed else f"${SEED_VARIABLE}"
    remotes = [
        f"    {{urls: [{json.dumps(url)}], nkey: {nkey}, account: {MESH_ACCOUNT}}}"
        for url in links.hubs
    ]
    lines.append("  remotes = [" + ("\n" + "\n".join(remotes) + "\n  " if remotes else "") + "]")
    lines.append("}")
    return "\n".join(lines) + "\n"
