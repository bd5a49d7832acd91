"""The ``authorization`` block of a nats.conf, rendered from the identities.

Passwords are never written into the file: each is a variable reference
(``$CONTINUUM_NATS_PASSWORD_GATEWAY``) that nats-server resolves from its
environment. So one rendering serves the embedded node, the compose stack and
the Helm chart alike, and a config file can be shown or committed safely.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from continuum.mesh.natsconf import MESH_ACCOUNT, NODE_ACCOUNT, mesh_account
from continuum.natsauth.permissions import IDENTITIES, Identity

PASSWORD_PREFIX = "CONTINUUM_NATS_PASSWORD_"  # noqa: S105 - a variable name


def password_variable(identity: Identity) -> str:
    """The environment variable nats-server reads this identity's password from."""
    return PASSWORD_PREFIX + identity.env_suffix


def covers(pattern: str, subject: str) -> bool:
    """Whether NATS subject ``pattern`` (``*``, ``>``) matches all of ``subject``."""
    wanted, given = pattern.split("."), subject.split(".")
    for i, part in enumerate(wanted):
        if part == ">":
            return len(given) > i
        if i >= len(given) or part not in ("*", given[i]):
            return False
    return len(given) == len(wanted)


def _list(subjects: Iterable[str]) -> str:
    """The subjects not already granted by a wider one, in order."""
    listed = list(dict.fromkeys(subjects))
    kept = [s for s in listed if not any(p != s and covers(p, s) for p in listed)]
    return "[" + ", ".join(json.dumps(s) for s in kept) + "]"


def _user(identity: Identity) -> str:
    subscribe = f"allow: {_list(identity.subscribe)}"
    return (
        f"      # {identity.description}\n"
        "      {\n"
        f"        user: {json.dumps(identity.name)}\n"
        f"        password: ${password_variable(identity)}\n"
        "        permissions: {\n"
        f"          publish: {{allow: {_list(identity.publish)}}}\n"
        f"          subscribe: {{{subscribe}}}\n"
        "          allow_responses: true\n"
        "        }\n"
        "      }\n"
    )


def authorization_block(
    identities: Iterable[Identity] | None = None, admitted: Sequence[str] = ()
) -> str:
    """The node's accounts for nats.conf, permissions included: NODE (every
    process of the node and external tools; JetStream) and MESH, the account
    leaf links are bound to (its users: the node's mesh agent, and the nodes
    in ``admitted`` by their NKeys).

    Two accounts rather than one: nothing a leaf link carries can reach
    NODE's subjects, whatever a remote node's configuration says."""
    chosen = list(identities or IDENTITIES.values())
    users = "".join(_user(i) for i in chosen if not i.account)
    node = f"  {NODE_ACCOUNT} {{\n    jetstream: enabled\n    users = [\n{users}    ]\n  }}\n"
    mesh = [i for i in chosen if i.account == MESH_ACCOUNT]
    mesh_block = mesh_account(password_variable(mesh[0]), admitted) if mesh else ""
    return f"accounts {{\n{node}{mesh_block}}}\n"
