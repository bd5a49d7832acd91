"""`continuum token ...` and `continuum publisher ...`: who may use the node's API.

Both talk to the gateway over NATS (the node's internal bus), so they work
wherever `continuum events` works, without an HTTP token of their own.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import typer

from continuum import suggest
from continuum.cli.common import CliError, call, console, err_console, print_table, settings
from continuum.identity import NodeIdentity
from continuum.natsauth import INGRESS, NodeLogins
from continuum.node.state import running_state

token_app = typer.Typer(help="API tokens for the HTTP gateway.", no_args_is_help=True)
publisher_app = typer.Typer(
    help="Ed25519 keys whose signed events this node accepts.", no_args_is_help=True
)

_SCOPES = ("read", "publish", "admin")


def _state(revoked_at: str | None) -> str:
    return "[red]revoked[/]" if revoked_at else "[green]active[/]"


@token_app.command("create")
def token_create(
    name: str = typer.Argument(..., help="What the token is for, e.g. 'ci-pipeline'."),
    scope: list[str] = typer.Option(
        ["read"], "--scope", "-s", help="read, publish or admin (repeat for several)."
    ),
) -> None:
    """Create a token. Its secret is printed once and cannot be shown again."""
    unknown = [s for s in scope if s not in _SCOPES]
    if unknown:
        raise CliError(f"unknown scope(s) {', '.join(unknown)}; scopes are {', '.join(_SCOPES)}")
    created = call("cmd.gateway.tokens.create", {"name": name, "scopes": sorted(set(scope))})
    err_console.print(
        f"token [bold]{created['name']}[/] ({created['id']}) with scopes "
        f"{', '.join(created['scopes'])}; store it now, it is not shown again:"
    )
    console.print(created["token"], highlight=False, soft_wrap=True)


@token_app.command("list")
def token_list() -> None:
    """Every token (never its secret)."""
    print_table(
        "API tokens",
        ("id", "name", "scopes", "created", "last used", "state"),
        [
            (
                t["id"],
                t["name"],
                ",".join(t["scopes"]),
                t["created_at"][:19],
                (t["last_used_at"] or "never")[:19],
                _state(t["revoked_at"]),
            )
            for t in call("cmd.gateway.tokens.list", {})["tokens"]
        ],
        optional=("last used", "created"),
    )


@token_app.command("revoke")
def token_revoke(
    token: str = typer.Argument(..., help="The token's name, id, or the start of its id."),
) -> None:
    """Revoke a token; requests with it are refused from now on."""
    revoked = call("cmd.gateway.tokens.revoke", {"id": _token_id(token)})
    console.print(f"revoked token {revoked['name']} ({revoked['id']})")


def _token_id(ref: str) -> str:
    """The one active token ``ref`` names: its id, the start of its id, or its name."""
    tokens = call("cmd.gateway.tokens.list", {})["tokens"]
    if any(t["id"] == ref for t in tokens):
        return ref
    active = [t for t in tokens if not t["revoked_at"]]
    by_name = [t for t in active if t["name"] == ref]
    by_prefix = [t for t in active if len(ref) >= 4 and t["id"].startswith(ref.lower())]
    for found in (by_name, by_prefix):
        if len(found) == 1:
            return str(found[0]["id"])
        if len(found) > 1:
            ids = ", ".join(t["id"] for t in found)
            raise CliError(f"{ref!r} names {len(found)} active tokens ({ids}); give the id")
    raise CliError(suggest.unknown("token", ref, [t["name"] for t in active]))


@publisher_app.command("keygen")
def publisher_keygen(
    out: Path = typer.Argument(..., help="File to write the private key to (mode 0600)."),
) -> None:
    """Create an Ed25519 key for an external tool and print its public key."""
    if out.exists():
        raise CliError(f"{out} exists; refusing to overwrite a key")
    identity = NodeIdentity.generate()
    seed = base64.b64encode(bytes(identity.signing_key)).decode("ascii")
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(seed + "\n")
    err_console.print(f"private key written to {out}; register the public key with:")
    console.print(f"continuum publisher add NAME {identity.node_id}", highlight=False)


@publisher_app.command("add")
def publisher_add(
    name: str = typer.Argument(..., help="Who publishes with this key."),
    key: str = typer.Argument(..., help="Public key: 52 base32 chars or base64 of 32 bytes."),
) -> None:
    """Register a publisher key: events it signs are accepted."""
    added = call("cmd.gateway.publishers.add", {"name": name, "key": key})
    console.print(f"publisher {added['name']} registered: {added['key']}")


@publisher_app.command("list")
def publisher_list() -> None:
    """Registered publisher keys."""
    print_table(
        "Publisher keys",
        ("key", "name", "created", "state"),
        [
            (p["key"], p["name"], p["created_at"][:19], _state(p["revoked_at"]))
            for p in call("cmd.gateway.publishers.list", {})["publishers"]
        ],
    )


@publisher_app.command("revoke")
def publisher_revoke(key: str = typer.Argument(..., help="The public key.")) -> None:
    """Stop accepting events signed by this key."""
    revoked = call("cmd.gateway.publishers.revoke", {"key": key})
    console.print(f"publisher key {revoked['key']} revoked")


@publisher_app.command("nats-url")
def publisher_nats_url() -> None:
    """The NATS URL, with the ``ingress`` login, that external tools publish
    CloudEvents to (``ingress.<source>``: nothing else is open to them)."""
    s = settings()
    state = running_state(s.home)
    if state is None or not state.embedded_nats:
        raise CliError(
            "only a node running its embedded NATS has an ingress login; on your own NATS "
            "server, give external tools a user allowed to publish only on ingress.>"
        )
    logins = NodeLogins.read(s.home)
    if logins is None:
        raise CliError(f"this node has no NATS logins in {s.home / 'nats'}")
    err_console.print("external tools publish to ingress.<source> with this URL; keep it secret:")
    console.print(logins.login(INGRESS).url(state.nats_url), highlight=False, soft_wrap=True)
