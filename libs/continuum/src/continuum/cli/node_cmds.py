"""``continuum up | down | status``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from importlib.metadata import entry_points
from typing import Any

import asyncpg
import typer
from nats.aio.client import Client
from rich.table import Table

from continuum.api_tokens import ADMIN_TOKEN_FILE
from continuum.cli.common import (
    CliError,
    connect_once,
    console,
    err_console,
    nats_login,
    run,
    settings,
)
from continuum.logs import configure_logging, redact
from continuum.node import probe
from continuum.node.state import NodeState, read_state, running_state
from continuum.node.supervisor import Node, acquire_lock, install_signal_handlers
from continuum.settings import Settings


def _print_ready(state: NodeState) -> None:
    table = Table(
        title=f"Continuum node {state.name} ({state.node_id[:12]}…)", title_justify="left"
    )
    table.add_column("component")
    table.add_column("where")
    table.add_column("kind")
    table.add_row(
        "NATS JetStream", state.nats_url, "embedded" if state.embedded_nats else "external"
    )
    table.add_row(
        "PostgreSQL",
        redact(state.database_url),
        "embedded" if state.embedded_postgres else "external",
    )
    for name, pid in sorted(state.services.items()):
        where = f"{state.urls[name]}  pid {pid}" if name in state.urls else f"pid {pid}"
        table.add_row(f"service {name}", where, "supervised")
    console.print(table)
    if "gateway" in state.urls:
        console.print(
            f"HTTP API: {state.urls['gateway']} (admin token in "
            f"{settings().home / ADMIN_TOKEN_FILE})"
        )
        console.print(
            f"Web app: {state.urls['gateway']}/ (sign in with that token, or run "
            "`continuum ui` for a one-time link)"
        )
    logs = settings().home / "logs"
    for name, reason in sorted(state.unhealthy.items()):
        err_console.print(
            f"[red]service {name} is not healthy[/]: {reason} (log: {logs / name}.log)"
        )


def up(
    detach: bool = typer.Option(False, "--detach", "-d", help="Run the node in the background."),
    hub: bool = typer.Option(
        False, "--hub", help="Accept other nodes as leaves of this one (the mesh's hub)."
    ),
    hub_port: int = typer.Option(
        0, "--hub-port", min=0, max=65535, help="Port leaves join on (default 7422)."
    ),
) -> None:
    """Start a whole node: NATS, PostgreSQL, streams and every installed service."""
    if hub:  # through the environment, so a detached node and its services see it too
        os.environ["CONTINUUM_MESH_HUB"] = "true"
    if hub_port:
        os.environ["CONTINUUM_MESH_PORT"] = str(hub_port)
    s = settings()
    _prepare(s)
    if detach:
        _up_detached(s)
        return
    configure_logging("node", s.log_level, "text")

    async def main() -> None:
        stop = asyncio.Event()
        node = Node(s, report=lambda line: console.print(line))
        install_signal_handlers(stop, node.reload_mesh)

        def ready(state: NodeState) -> None:
            _print_ready(state)
            console.print(
                "[green]node is up[/] (Ctrl-C to stop; `continuum status` from another shell)"
            )

        await node.run(stop, ready)
        console.print("node stopped")

    run(main())


def _prepare(s: Settings) -> None:
    """Run the installed services' first-start hooks (``continuum.up`` entry
    points) in the foreground, where their progress bars can be seen: e.g.
    persona-runtime builds the built-in model if there is none yet."""
    for entry in entry_points(group="continuum.up"):
        hook = entry.load()
        hook(s.home)


def _up_detached(s: Settings) -> None:
    s.home.mkdir(parents=True, exist_ok=True)
    acquire_lock(s.home).close()  # fail fast with the same message as the child would
    log_path = s.home / "logs" / "node.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "continuum.cli.main", "up"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    with console.status("starting the node in the background…"):
        while time.monotonic() < deadline:
            state = read_state(s.home)
            if state is not None and state.ready and state.pid == child.pid:
                _print_ready(state)
                if state.unhealthy:
                    console.print(
                        f"[yellow]node is up with failing services[/] (pid {child.pid}); "
                        "they keep being restarted; `continuum down` stops the node"
                    )
                    raise typer.Exit(1)
                console.print(
                    f"[green]node is up[/] in the background (pid {child.pid}); "
                    f"logs in {s.home / 'logs'}; `continuum down` stops it"
                )
                return
            if child.poll() is not None:
                tail = log_path.read_text(errors="replace").splitlines()[-15:]
                raise CliError("the node failed to start:\n" + "\n".join(tail))
            time.sleep(0.2)
    raise CliError(f"the node did not become ready within 180s; see {log_path}")


def down(timeout: float = typer.Option(60.0, help="Seconds to wait for a clean stop.")) -> None:
    """Stop the node running on this home cleanly."""
    s = settings()
    state = running_state(s.home)
    if state is None:
        console.print(f"no node is running with home {s.home}")
        return
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    with console.status(f"stopping node (pid {state.pid})…"):
        while time.monotonic() < deadline:
            if not state.alive():
                console.print("node stopped")
                return
            time.sleep(0.2)
    raise CliError(f"node pid {state.pid} did not stop within {timeout:.0f}s")


async def _gather_status(s: Settings, state: NodeState) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    try:
        nc: Client | None = await connect_once(state.nats_url, nats_login(s))
    except CliError as exc:
        rows.append({"component": "NATS", "healthy": False, "detail": str(exc)})
        nc = None
    if nc is not None:
        try:
            info = await nc.jetstream().account_info()
            rows.append(
                {
                    "component": "NATS",
                    "healthy": True,
                    "detail": f"{state.nats_url}, JetStream {info.streams} streams",
                }
            )
        except Exception as exc:
            rows.append({"component": "NATS", "healthy": False, "detail": f"JetStream: {exc}"})
    try:
        conn = await asyncpg.connect(state.database_url, timeout=3)
        try:
            version = await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()
        rows.append(
            {
                "component": "PostgreSQL",
                "healthy": True,
                "detail": f"{redact(state.database_url)} (v{version})",
            }
        )
    except Exception as exc:
        rows.append({"component": "PostgreSQL", "healthy": False, "detail": redact(str(exc))})
    if nc is not None:
        try:
            discovered = {s["name"] for s in await probe.discover(nc)}
            replies: dict[str, dict[str, Any]] = {}
            for name in sorted(set(state.services) | discovered):
                health = replies[name] = await probe.health(nc, name)
                ok = health.get("status") == "ok"
                if ok:
                    lag = sum(
                        (st.get("pending") or 0)
                        for p in health.get("projections", {}).values()
                        for st in p.get("streams", {}).values()
                    )
                    detail = f"pid {health.get('pid')}, up {health.get('uptime_s')}s, lag {lag}"
                    if health.get("url"):
                        detail = f"{health['url']}  {detail}"
                else:
                    detail = (
                        health.get("error")
                        or f"nats={health.get('nats')} postgres={health.get('postgres')}"
                    )
                rows.append({"component": f"service {name}", "healthy": ok, "detail": detail})
            personas = probe.personas_row(replies)
            if personas is not None:
                ready, detail = personas
                rows.append({"component": "personas", "healthy": ready, "detail": detail})
        finally:
            await nc.close()
    return rows


def _configured_state(s: Settings) -> NodeState | None:
    """In a container there is no supervisor: describe the configured servers."""
    if not (s.nats_url and s.database_url.get_secret_value()):
        return None
    return NodeState(
        pid=0,
        node_id="external",
        name="(configured)",
        nats_url=s.nats_url,
        database_url=s.database_url.get_secret_value(),
        started_at="",
        embedded_nats=False,
        embedded_postgres=False,
    )


def status(as_json: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Show each component and service of the node with its health."""
    s = settings()
    state = running_state(s.home) or _configured_state(s)
    if state is None:
        raise CliError(f"no node is running with home {s.home} (start one with `continuum up`)")
    rows = run(_gather_status(s, state))
    if as_json:
        import json

        console.print_json(json.dumps({"node": state.node_id, "components": rows}))
    else:
        table = Table(
            title=f"Continuum node {state.name} ({state.node_id[:12]}…)", title_justify="left"
        )
        table.add_column("component")
        table.add_column("health")
        table.add_column("detail")
        for row in rows:
            table.add_row(
                row["component"],
                "[green]healthy[/]" if row["healthy"] else "[red]down[/]",
                row["detail"],
            )
        console.print(table)
    if not all(r["healthy"] for r in rows):
        err_console.print("[red]some components are not healthy[/]")
        raise typer.Exit(1)


def bootstrap(
    check: bool = typer.Option(
        False,
        "--check",
        help="Only check that the streams exist (exit 1 if not): for a process whose NATS "
        "login may use streams but not declare them.",
    ),
) -> None:
    """Declare the event streams on the configured NATS (what `up` does first)."""
    from continuum.cli.common import connect
    from continuum.store import Topology

    s = settings()
    topology = Topology(s.max_event_bytes, s.duplicate_window_s)

    async def main() -> list[str]:
        nc = await connect(s)
        try:
            if check:
                return await topology.missing(nc.jetstream())
            return await topology.bootstrap(nc.jetstream())
        finally:
            await nc.close()

    names = run(main())
    if not check:
        console.print(f"streams declared: {', '.join(names)}")
    elif names:
        raise CliError(f"streams not declared yet: {', '.join(names)} (`continuum bootstrap`)")
    else:
        console.print("streams present")
