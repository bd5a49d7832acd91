"""``continuum compose-env``: the secrets a compose stack starts with.

The stack's NATS gives each service its own login (ADR 0014), so it needs a
password per identity besides the node key, the admin token and the
PostgreSQL password. This writes them, generated, to a ``.env`` file that
``docker compose`` reads, keeping any value already there, so running it
again never changes a running stack's secrets.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

import typer

from continuum.cli.common import CliError, console
from continuum.identity import IdentityError, NodeIdentity
from continuum.natsauth import IDENTITIES, password_variable
from continuum.secretfile import PASSWORD_PATTERN, new_password, write_private


def _generated() -> dict[str, str]:
    values = {
        "CONTINUUM_NODE_KEY": base64.b64encode(os.urandom(32)).decode(),
        # The second node of the `mesh` profile; node 1 admits it by its id.
        "CONTINUUM_NODE_KEY_2": base64.b64encode(os.urandom(32)).decode(),
        "CONTINUUM_ADMIN_TOKEN": f"ctm_{secrets.token_urlsafe(32)}",
        "POSTGRES_PASSWORD": new_password(),
    }
    values.update({password_variable(i): new_password() for i in IDENTITIES.values()})
    return values


def _read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            raise CliError(f"{path}:{number}: not a KEY=value line")
        values[key.strip()] = value.strip()
    return values


def compose_env(
    path: Path = typer.Argument(
        Path("deploy/compose/.env"), help="The .env file next to compose.yaml."
    ),
) -> None:
    """Write the compose stack's secrets (generated; existing values kept) to PATH, mode 0600."""
    existing = _read(path) if path.exists() else {}
    for key, value in existing.items():
        if key.startswith("CONTINUUM_NATS_PASSWORD_") and not PASSWORD_PATTERN.match(value):
            raise CliError(
                f"{path}: {key} must be a letter then letters or digits (16-128): nats-server "
                "reads it from its environment as a config value"
            )
    values = {**_generated(), **existing}
    try:  # derived, so always what the key says
        second = NodeIdentity.from_seed(values["CONTINUUM_NODE_KEY_2"], "CONTINUUM_NODE_KEY_2")
    except IdentityError as exc:
        raise CliError(f"{path}: {exc}") from None
    values["CONTINUUM_NODE_ID_2"] = second.node_id
    added = [key for key in values if key not in existing and key != "CONTINUUM_NODE_ID_2"]
    body = "".join(f"{key}={value}\n" for key, value in values.items())
    header = "# The compose stack's secrets (continuum compose-env); keep it private.\n"
    write_private(path, header + body)
    kept = sum(1 for key in existing if key in values and key != "CONTINUUM_NODE_ID_2")
    console.print(
        f"{path}: {len(added)} secret(s) generated, {kept} kept (mode 0600)", soft_wrap=True
    )
