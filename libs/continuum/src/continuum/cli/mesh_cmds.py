"""`continuum mesh`: join hubs, admit leaves, and see the peers.

Joins and admissions are written to the node home (``mesh/hubs``,
``mesh/admitted``) so they survive a restart, then applied to the running
node by a SIGHUP to its supervisor, which re-renders nats.conf and reloads
nats-server: the node's own services keep running through a join.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import typer

from continuum.cli.common import (
    CliError,
    call,
    console,
    err_console,
    print_table,
    settings,
)
from continuum.identity import IdentityError, NodeIdentity
from continuum.mesh.natsconf import MeshLinks, leafnodes_block
from continuum.mesh.nkeys import user_seed
from continuum.mesh.settings import (
    MeshConfigError,
    MeshSettings,
    add_to_list,
    admitted_file,
    check_hub_url,
    check_node_id,
    hubs_file,
    remove_from_list,
)
from continuum.natsauth import authorization_block
from continuum.node.state import NodeState, running_state
from continuum.secretfile import write_private

app = typer.Typer(help="The mesh: hubs, leaves and peers.", no_args_is_help=True)

#: How long ``mesh join`` waits for the hub's advert before it gives a hint.
JOIN_WAIT_S = 15.0
#: How long it waits for the hub itself once other peers answered through it.
JOIN_SETTLE_S = 3.0


def _checked(check: Any, value: str) -> str:
    try:
        return str(check(value))
    except MeshConfigError as exc:
        raise CliError(str(exc)) from None


def _reload(state: NodeState | None) -> bool:
    """SIGHUP the running node so it applies the mesh files; False when no
    node runs (the change applies at the next ``continuum up``)."""
    if state is None:
        return False
    try:
        os.kill(state.pid, signal.SIGHUP)
    except ProcessLookupError:
        return False
    return True


def _peers(solicit: bool = False) -> dict[str, Any]:
    return call("cmd.gateway.mesh.peers", {"solicit": solicit}, timeout=10)


@app.command("join")
def join(
    url: str = typer.Argument(..., help="The hub's leaf URL, nats-leaf://HOST:PORT."),
    wait: float = typer.Option(
        JOIN_WAIT_S, "--wait", min=0, help="Seconds to wait for the hub to answer."
    ),
) -> None:
    """Link this node to a hub as a leaf (kept across restarts)."""
    url = _checked(check_hub_url, url)
    s = settings()
    state = running_state(s.home)
    # Joining a hub again is how a user asks "is it linked now?" (after the
    # hub admitted this node): every peer then counts as reached through it.
    again = url in MeshSettings().hub_urls(s.home)
    before: set[str] = set()
    if state is not None and not again:
        verdict = call("cmd.gateway.mesh.check-join", {"url": url})
        if not verdict.get("ok"):
            raise CliError(f"not joined: {verdict.get('reason')}")
        before = {p["node"] for p in _peers().get("peers", [])}
    add_to_list(hubs_file(s.home), url)
    if state is None or not _reload(state):
        console.print(f"joined {url}: applies when the node starts (`continuum up`)")
        return
    err_console.print(f"[dim]linking to {url} …[/]")
    deadline = time.monotonic() + wait
    first_seen: float | None = None
    while time.monotonic() < deadline:
        time.sleep(0.5)
        seen = _peers(solicit=True)
        new = [p for p in seen.get("peers", []) if p["node"] not in before]
        # The hub itself (it advertises this URL), or, where it is known by
        # another name, whoever answered through the link after a moment.
        new.sort(key=lambda p: url not in p.get("leaf_urls", []))
        first_seen = first_seen or (time.monotonic() if new else None)
        hub = bool(new) and url in new[0].get("leaf_urls", [])
        if hub or (first_seen and time.monotonic() - first_seen >= JOIN_SETTLE_S):
            names = ", ".join(f"{p['name']} ({p['node'][:12]})" for p in new)
            console.print(f"joined {url}: {names} reachable")
            return
    raise CliError(
        f"no answer through {url} after {wait:.0f}s; it stays configured and retries every "
        f"second. If the hub has not admitted this node, run on the hub: "
        f"continuum mesh admit {state.node_id}"
    )


@app.command("leave")
def leave(url: str = typer.Argument(..., help="A hub this node joined.")) -> None:
    """Drop the link to a hub."""
    url = _checked(check_hub_url, url)
    s = settings()
    if not remove_from_list(hubs_file(s.home), url):
        env = MeshSettings().hub_urls()
        hint = " (it comes from CONTINUUM_MESH_HUBS)" if url in env else ""
        raise CliError(f"{url} is not in {hubs_file(s.home)}{hint}")
    applied = _reload(running_state(s.home))
    console.print(f"left {url}" + ("" if applied else ": applies when the node starts"))


@app.command("admit")
def admit(node_id: str = typer.Argument(..., help="The joining node's id.")) -> None:
    """Let a node join this hub as a leaf (its key is its node id)."""
    node_id = _checked(check_node_id, node_id)
    s = settings()
    if not MeshSettings().hub:
        err_console.print(
            "[yellow]warning:[/] this node is not a hub: admissions apply once it runs "
            "`continuum up --hub`"
        )
    added = add_to_list(admitted_file(s.home), node_id)
    applied = _reload(running_state(s.home))
    verb = "admitted" if added else "already admitted"
    console.print(f"{verb} {node_id}" + ("" if applied else ": applies when the node starts"))


@app.command("revoke")
def revoke(node_id: str = typer.Argument(..., help="An admitted node's id.")) -> None:
    """Stop admitting a node (its link is cut at the reload)."""
    node_id = _checked(check_node_id, node_id)
    s = settings()
    if not remove_from_list(admitted_file(s.home), node_id):
        raise CliError(f"{node_id} is not in {admitted_file(s.home)}")
    applied = _reload(running_state(s.home))
    console.print(f"revoked {node_id}" + ("" if applied else ": applies when the node starts"))


@app.command("peers")
def peers(
    lan: bool = typer.Option(False, "--lan", help="Nodes heard by LAN beacons instead."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The peers this node believes, with what it measured of each."""
    seen = _peers()
    if as_json:
        console.print(json.dumps(seen, indent=2), markup=False)
        return
    if lan:
        near: list[tuple[str, ...]] = [
            (
                p["name"],
                p["node"],
                p.get("hub_url") or "-",
                f"{p['heard_s']:.1f}s ago",
                "yes" if p.get("linked") else "no",
            )
            for p in seen.get("lan", [])
        ]
        print_table("nodes on this LAN", ("name", "node id", "hub at", "heard", "linked"), near)
        if not near:
            err_console.print("[dim]no beacons heard (LAN beacons off, or nobody near)[/]")
        return
    rows = [_peer_row(p) for p in seen.get("peers", [])]
    print_table(
        f"peers of {seen.get('name')} ({str(seen.get('node'))[:12]})",
        ("name", "node id", "rtt", "seen", "personas", "price", "load", "reputation", "where"),
        rows,
        optional=("personas", "where"),
    )
    if not rows:
        err_console.print(
            "[dim]no peers: join a hub with `continuum mesh join nats-leaf://HOST:PORT`[/]"
        )
    for refusal in seen.get("refused", [])[-3:]:
        err_console.print(f"[yellow]refused[/] {refusal.get('subject')}: {refusal.get('reason')}")


def _peer_row(p: dict[str, Any]) -> tuple[str, ...]:
    rtt = p.get("rtt_ms")
    banned = p.get("banned_s") or 0
    where = "lan" if p.get("lan") else "mesh"
    return (
        p["name"],
        p["node"],
        "-" if rtt is None else f"{rtt:.1f} ms",
        f"{p['last_seen_s']:.1f}s ago",
        ", ".join(p.get("personas", [])) or "-",
        "free" if not p.get("price") else f"{p['price']:g}",
        str(p.get("queue_depth", 0)),
        f"{p['reputation']:.2f} ({p['successes']}/{p['successes'] + p['failures']})"
        + (f", banned {banned:.0f}s" if banned else ""),
        where,
    )


@app.command("id")
def node_id() -> None:
    """This node's id: what a hub admits (`continuum mesh admit ID` there)."""
    s = settings()
    try:
        identity = NodeIdentity.configured(s.home, s.node_key.get_secret_value())
    except IdentityError as exc:
        raise CliError(str(exc)) from None
    console.print(identity.node_id)
    err_console.print(f"[dim]on the hub: continuum mesh admit {identity.node_id}[/]")


@app.command("nats-config")
def nats_config(
    out: Path = typer.Argument(..., help="Where to write the config (kept private: mode 0600)."),
    store_dir: str = typer.Option("/data", "--store-dir", help="JetStream's store directory."),
) -> None:
    """Render a container's NATS mesh config: JetStream (domain = node id),
    the NODE and MESH accounts with the admitted nodes, the leaf links and
    short pings. For compose and Helm, where no supervisor renders it; the
    file holds the leaf's NKey seed, so write it to memory (tmpfs)."""
    s = settings()
    try:
        identity = NodeIdentity.configured(s.home, s.node_key.get_secret_value())
        mesh = MeshSettings()
        links = MeshLinks(
            listen=f"{mesh.host}:{mesh.port}" if mesh.hub else "", hubs=tuple(mesh.hub_urls())
        )
        authorization = authorization_block(admitted=mesh.admitted())
    except (MeshConfigError, IdentityError) as exc:
        raise CliError(str(exc)) from None
    pings = f'ping_interval: "{mesh.link_ping}"\nping_max: 2\n' if mesh.enabled() else ""
    body = (
        f"# Rendered by `continuum mesh nats-config` for node {identity.node_id}.\n"
        "# Private: it holds the node's leaf NKey seed.\n"
        f"{pings}"
        f"jetstream {{\n  store_dir: {json.dumps(store_dir)}\n  domain: {identity.node_id}\n}}\n"
        f"{authorization}"
        f"{leafnodes_block(links, seed=user_seed(identity.signing_key))}"
    )
    write_private(out, body)
    role = "a hub" if mesh.hub else "a node"
    joins = f", joining {', '.join(links.hubs)}" if links.hubs else ""
    err_console.print(f"{out}: NATS config of {role} {identity.short_id}{joins}")
