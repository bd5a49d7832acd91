"""Mesh benchmark: routing overhead, failover and discovery, on real nodes.

Three nodes on loopback, each its own nats-server, gateway (mesh agent) and
persona-runtime on the built-in tiny model, exactly as the mesh test suite
runs them: a hub, leaf A and leaf B (``tests/mesh/mesh_harness.py``).

Routing overhead: the time from asking to the first token at the caller, for
one short generation, side by side and alternating in one run:
(a) the serving node's persona-runtime called directly (the baseline: what a
    local `continuum ai generate` pays), (b) the same through the serving
    node's own router (``--mesh local``), (c) from leaf A through the hub to
    leaf B (``--mesh global``: two leaf links, sealed both ways).

Failover: a persona served by both leaves, a generation asked from the hub,
and kill -9 of the whole serving node (its nats-server and services) at the
first token; measured from the kill to the next token at the caller. Its
baseline, measured in the same run: the first token of a fresh request to
the surviving node (what a client that starts again pays at best, on top of
noticing the failure at all, which NATS's defaults do after minutes).

Discovery: after each kill, once the dead node has dropped out of every
table, it is started again: from its start (and from its gateway being
ready) to its advert in the other leaf's table through the hub, and to its
LAN beacon being heard there.

Usage: python tests/benchmarks/bench_mesh.py [--runs N] [--failovers F] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import Progress

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "mesh"))
from bench_common import percentiles, start_postgres, stop_postgres, write_section
from mesh_harness import Mesh, MeshNode, running_mesh, wait_for

from continuum.runtime.requests import request_json

# The harness's nodes beacon on loopback only.
os.environ["CONTINUUM_MESH_LAN_INTERFACE"] = "127.0.0.1"

console = Console()
ONLY_B = {"name": "Translator AI", "role": "translates text", "domains": ["translation"]}
TWIN = {"name": "Twin AI", "role": "writes long stories", "domains": ["stories"]}
#: nats-server's defaults: a dead connection is noticed after ping_interval
#: (2 min) x ping_max (2) unanswered pings.
NATS_DEFAULT_DETECTION_S = 240.0


async def first_token(node: MeshNode, subject: str, body: dict[str, Any]) -> float:
    """Seconds from asking ``subject`` (on ``node``) to the first token."""
    nc = await node.connect()
    try:
        inbox = nc.new_inbox()
        first = asyncio.get_running_loop().create_future()

        async def got(msg: Any) -> None:
            if first.done():
                return
            routed = subject.startswith("cmd.gateway.mesh")
            if routed and json.loads(msg.data).get("kind") != "piece":
                return
            first.set_result(time.perf_counter())

        sub = await nc.subscribe(inbox, cb=got)
        await nc.flush()
        started = time.perf_counter()
        answer = await request_json(nc, subject, {**body, "stream": inbox}, 120)
        if answer.get("status") == "failed":
            raise RuntimeError(f"{subject}: {answer}")
        await sub.unsubscribe()
        return float(await asyncio.wait_for(first, 5)) - started
    finally:
        await nc.close()


async def routing(mesh: Mesh, runs: int, progress: Progress) -> dict[str, list[float]]:
    await mesh.b.ask("persona-runtime.create", ONLY_B)
    await wait_for(lambda: _offers(mesh.a, mesh.b, "Translator AI"), timeout=60)
    prompt = {"prompt": "Translate: good morning", "persona": "Translator AI", "max_tokens": 4}
    modes: dict[str, Callable[[], Awaitable[float]]] = {
        "local": lambda: first_token(mesh.b, "cmd.persona-runtime.generate", prompt),
        "routed_here": lambda: first_token(
            mesh.b, "cmd.gateway.mesh.generate", {**prompt, "mesh": "local"}
        ),
        "through_hub": lambda: first_token(
            mesh.a, "cmd.gateway.mesh.generate", {**prompt, "mesh": "global"}
        ),
    }
    for call in modes.values():  # warm every path once
        await call()
    found: dict[str, list[float]] = {name: [] for name in modes}
    task = progress.add_task("routing overhead", total=runs * len(modes))
    for _ in range(runs):
        for name, call in modes.items():
            found[name].append(await call())
            progress.advance(task)
    return found


async def _offers(viewer: MeshNode, node: MeshNode, persona: str) -> bool:
    peers = {p["node"]: p for p in (await viewer.peers())["peers"]}
    peer = peers.get(node.node_id)
    return bool(peer) and persona in peer["personas"]


async def _gone(viewer: MeshNode, node: MeshNode) -> bool:
    seen = await viewer.peers()
    return node.node_id not in {p["node"] for p in seen["peers"]} | {p["node"] for p in seen["lan"]}


async def failover_once(mesh: Mesh) -> tuple[float, float, MeshNode]:
    """(kill -> next token, fresh request's first token, the killed node)."""
    nc = await mesh.hub.connect()
    by_id = {n.node_id: n for n in (mesh.a, mesh.b)}
    killed: list[tuple[float, MeshNode]] = []
    resumed: list[float] = []
    moved = asyncio.Event()
    serving: list[str] = []

    async def got(msg: Any) -> None:
        frame = json.loads(msg.data)
        if frame["kind"] == "route" and not killed:
            serving.append(frame["candidates"][0]["node"])
        elif frame["kind"] == "piece" and not killed:
            node = by_id[serving[0]]
            node.kill()
            killed.append((time.perf_counter(), node))
        elif frame["kind"] == "moved":
            moved.set()
        elif frame["kind"] == "piece" and moved.is_set() and not resumed:
            resumed.append(time.perf_counter())

    try:
        inbox = nc.new_inbox()
        await nc.subscribe(inbox, cb=got)
        body = {
            "prompt": "Tell a long story",
            "persona": "Twin AI",
            "mesh": "global",
            "max_tokens": 80,
            "stream": inbox,
        }
        reply = await request_json(nc, "cmd.gateway.mesh.generate", body, 120)
        await asyncio.sleep(0.1)
    finally:
        await nc.close()
    if not killed or not resumed or reply.get("status") != "complete":
        raise RuntimeError(f"no failover happened: {reply}")
    fresh = await first_token(
        mesh.hub,
        "cmd.gateway.mesh.generate",
        {"prompt": "Tell a story", "persona": "Twin AI", "mesh": "global", "max_tokens": 4},
    )
    return resumed[0] - killed[0][0], fresh, killed[0][1]


async def rediscovered(mesh: Mesh, node: MeshNode) -> dict[str, float]:
    """Wait until ``node`` has dropped out of the other leaf's tables, start
    it again, and time its advert (through the hub) and its beacon there."""
    viewer = mesh.b if node is mesh.a else mesh.a
    await wait_for(lambda: _gone(viewer, node), timeout=60, every=0.1)
    started = time.perf_counter()
    times: dict[str, float] = {}

    async def watch() -> None:
        while len(times) < 2:
            seen = await viewer.peers()
            now = time.perf_counter()
            if "advert" not in times and any(
                p["node"] == node.node_id and "Twin AI" in p["personas"] for p in seen["peers"]
            ):
                times["advert"] = now - started
            if "lan" not in times and node.node_id in {p["node"] for p in seen["lan"]}:
                times["lan"] = now - started
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    await node.start()
    ready = time.perf_counter() - started
    await asyncio.wait_for(watcher, 60)
    return {**times, "ready": ready, "advert_after_ready": times["advert"] - ready}


async def failovers(mesh: Mesh, count: int, progress: Progress) -> dict[str, list[float]]:
    await mesh.a.ask("persona-runtime.create", TWIN)
    await mesh.b.ask("persona-runtime.create", TWIN)
    for leaf in (mesh.a, mesh.b):
        await wait_for(lambda leaf=leaf: _offers(mesh.hub, leaf, "Twin AI"), timeout=60)
    found: dict[str, list[float]] = {
        k: [] for k in ("failover", "fresh", "advert", "lan", "ready", "advert_after_ready")
    }
    task = progress.add_task("failover and rediscovery", total=count)
    for _ in range(count):
        gap, fresh, node = await failover_once(mesh)
        found["failover"].append(gap)
        found["fresh"].append(fresh)
        for key, value in (await rediscovered(mesh, node)).items():
            found[key].append(value)
        await wait_for(lambda node=node: _offers(mesh.hub, node, "Twin AI"), timeout=60)
        progress.advance(task)
    return found


def _ms(values: list[float]) -> tuple[float, float]:
    if len(values) == 1:
        return values[0] * 1000, values[0] * 1000
    return percentiles(values)


def report(routed: dict[str, list[float]], failed: dict[str, list[float]], runs: int) -> str:
    cpus = os.cpu_count()
    base50, _ = _ms(routed["local"])
    rows = []
    labels = {
        "local": "(a) the serving node's persona-runtime, called directly",
        "routed_here": "(b) the serving node's router (`--mesh local`)",
        "through_hub": "(c) leaf A → hub → leaf B (`--mesh global`, sealed)",
    }
    for key, label in labels.items():
        p50, p99 = _ms(routed[key])
        rows.append(
            f"| {label} | {p50:.1f} | {p99:.1f} | {p50 / base50:.2f} | {p50 - base50:+.1f} |"
        )
    f50, f99 = _ms(failed["failover"])
    n50, n99 = _ms(failed["fresh"])
    added = _ms(routed["through_hub"])[0] - base50
    lines = [
        "## Mesh (routing overhead, failover, discovery)",
        "",
        "Command: `make bench`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpus} cores, Python "
        f"{platform.python_version()}, a hub and two leaves on loopback (each its own "
        "nats-server, gateway and persona-runtime on the tiny built-in model); "
        f"{runs} alternating runs per routing mode, {len(failed['failover'])} kill -9 failovers.",
        "",
        "First token at the caller (a 4-token generation):",
        "",
        "| path | p50, ms | p99, ms | / direct | added p50, ms |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"Target: under 10 ms added by the mesh to first-token latency "
        f"({'met' if added < 10 else 'NOT met'}: {added:+.1f} ms through the hub).",
        "",
        "Failover (kill -9 of the whole serving node at its first token, the caller on the hub):",
        "",
        "| measure | p50, ms | p99, ms | / fresh request |",
        "|---|---:|---:|---:|",
        f"| kill -9 → next token, continuing from the prefix | {f50:.0f} | {f99:.0f} | "
        f"{f50 / n50:.2f} |",
        f"| baseline: first token of a fresh request to the survivor | {n50:.0f} | {n99:.0f} | "
        "1.00 |",
        f"| NATS defaults notice the dead link after (not measured: 2 min x 2 pings) | "
        f"{NATS_DEFAULT_DETECTION_S * 1000:,.0f} | | |",
        "",
        f"Target: under 1 s ({'met' if f99 < 1.0 * 1000 else 'NOT met'}: p99 {f99:.0f} ms). "
        "The caller notices a dead server after the heartbeat silence limit "
        "(`CONTINUUM_MESH_SILENCE_S`, 0.5 s) and moves at once; no responders moves "
        "without waiting.",
        "",
        "Discovery (the killed node started again, once it had dropped out of every table):",
        "",
        "| from → to | p50, ms | p99, ms |",
        "|---|---:|---:|",
    ]
    names = {
        "ready": "node start → its gateway ready (NATS, persona-runtime, gateway up)",
        "advert": "node start → its advert in the other leaf's table, through the hub",
        "advert_after_ready": "gateway ready → advert in the other leaf's table",
        "lan": "node start → its LAN beacon heard by the other leaf",
    }
    for key, label in names.items():
        p50, p99 = _ms(failed[key])
        lines.append(f"| {label} | {p50:.0f} | {p99:.0f} |")
    raw = "; ".join(
        f"{k} {', '.join(f'{v * 1000:.1f}' for v in vs)}" for k, vs in {**routed, **failed}.items()
    )
    lines += ["", f"Each run, ms: {raw}", ""]
    return "\n".join(lines)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--failovers", type=int, default=8)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    from continuum_lm.builtin import build

    root = Path(tempfile.mkdtemp(prefix="bench-mesh-"))
    model = root / "model"
    console.print("building the tiny built-in model …")
    build(model, "tiny")
    pg = start_postgres()
    try:
        async with running_mesh(pg, model, root / "nodes") as mesh:
            with Progress(console=console) as progress:
                routed = await routing(mesh, args.runs, progress)
                failed = await failovers(mesh, args.failovers, progress)
    finally:
        stop_postgres(pg)
    section = report(routed, failed, args.runs)
    console.print(section, markup=False)
    if args.write:
        write_section(args.write, "mesh", section)


if __name__ == "__main__":
    asyncio.run(main())
