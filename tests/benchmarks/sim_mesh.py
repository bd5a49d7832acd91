"""The mesh beyond this machine: 1,000 / 100,000 / 1,000,000 nodes under hub
trees, by discrete-event simulation (simpy), for two designs.

* **flood** (what the code does today, ADR 0017): every node's advert goes
  to every node, re-announced every ``CONTINUUM_MESH_ANNOUNCE_S``; every
  node keeps every advert and routes with full knowledge.
* **digest** (the design for a million nodes, ADR 0018): a leaf hears only
  its own hub's leaves; each hub keeps its subtree's adverts and sends its
  parent a digest (the best few nodes per persona of its subtree) every
  period; a request for a persona no sibling serves climbs to the lowest
  hub whose digest has it, and goes to the best node listed there.

Fed by the code, not by guesses where the code decides: the advert's size
is a real signed :class:`continuum.mesh.adverts.Advert` (personas with
their capability embeddings and layer hashes), the announce period and
advert lifetime are :class:`MeshSettings`' defaults, and routing ranks by
:func:`continuum.mesh.routing.score` with the documented weights. What no
code here decides is stated as an assumption in the report: link latency
(nodes placed on a plane, a 1 ms LAN to a 150 ms intercontinental RTT),
hub capacity (a 1 Gbit/s egress link, 2 us of CPU per delivery), fan-out
(64 children per hub) and persona popularity (Zipf over 2,000 personas).

Measured per size and design: advert traffic per hub (bytes/s out) and per
leaf (in), memory a leaf keeps, time for an advert to reach every node (a
tagged advert through the hubs' queues, simulated with simpy under the
background load), routing path stretch (RTT to the chosen node over RTT to
the best node for the persona, anywhere), and what breaks first.

Usage: python tests/benchmarks/sim_mesh.py [--requests N] [--write FILE]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import simpy
from rich.console import Console
from rich.progress import Progress

from continuum.identity import NodeIdentity
from continuum.mesh.adverts import Advert, Hardware, Offer, sign_advert
from continuum.mesh.peers import PeerStats
from continuum.mesh.routing import LATENCY_SCALE_MS, WEIGHTS, encode_embedding, score
from continuum.mesh.settings import MeshSettings

sys.path.insert(0, str(Path(__file__).parent))
from bench_common import write_section

console = Console()
SIZES = (1_000, 100_000, 1_000_000)
FANOUT = 64
EGRESS_BYTES_S = 125e6  # 1 Gbit/s per hub
DELIVERY_CPU_S = 2e-6
PERSONAS_PER_NODE = 3
DISTINCT_PERSONAS = 2_000
ZIPF_A = 1.2
DIGEST_BEST = 3  # nodes listed per persona in a digest
DIGEST_ENTRY_BYTES = 120  # node id (52) + persona id + score parts, JSON
SEED = 7


def real_advert_bytes() -> int:
    """A signed advert as the agent builds it: three personas, each with a
    384-dimension capability embedding (float16) and four layer hashes."""
    identity = NodeIdentity.generate()
    rng = np.random.default_rng(SEED)
    offers = [
        Offer(
            persona=f"persona-{i}",
            name=f"Persona {i} AI",
            role="answers questions about a subject in a friendly way",
            domains=["subject", "questions", "teaching"],
            layers=[os.urandom(32).hex() for _ in range(4)],
            backend="builtin",
            embedding=encode_embedding(rng.standard_normal(384).tolist()),
        )
        for i in range(PERSONAS_PER_NODE)
    ]
    now = time.time()
    advert = Advert(
        node=identity.node_id,
        name="node-with-a-name",
        version="0.1.0",
        seq=int(now * 1000),
        issued_at=now,
        expires_at=now + 15,
        personas=offers,
        backends=["builtin", "ollama"],
        hardware=Hardware(cpus=16, memory_gb=64.0, accelerator="NVIDIA H200"),
        price=0.001,
        queue_depth=2,
        hubs=["nats-leaf://hub.example.org:7422"],
    )
    return len(sign_advert(advert, identity))


@dataclass
class Tree:
    """Nodes on a plane (RTT = distance), grouped into hubs by place."""

    n: int
    depth: int
    positions: np.ndarray  # (n, 2), in ms of RTT
    hub_of: np.ndarray  # (depth, n): the node's hub id at each level, leaf level first

    @classmethod
    def build(cls, n: int, rng: np.random.Generator) -> Tree:
        depth = max(1, math.ceil(math.log(n) / math.log(FANOUT)))
        # Clusters of users (cities) on a 150 ms wide world.
        centres = rng.uniform(0, 150, size=(max(8, n // 500), 2))
        which = rng.integers(0, len(centres), size=n)
        positions = centres[which] + rng.normal(0, 3, size=(n, 2))
        # Hubs by place: sort along a space-filling order, cut into runs.
        order = np.lexsort((positions[:, 1] // 10, positions[:, 0] // 10))
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        hub_of = np.stack([rank // (FANOUT ** (level + 1)) for level in range(depth)])
        return cls(n, depth, positions, hub_of)

    def rtt(self, a: int, b: np.ndarray) -> np.ndarray:
        return np.asarray(1.0 + np.linalg.norm(self.positions[b] - self.positions[a], axis=1))


def hub_utilisation(design: str, n: int, depth: int, advert: int, announce_s: float) -> float:
    """The busiest hub's egress use (1.0 = saturated)."""
    if design == "flood":
        # Every advert crosses every hub, out to each child and the parent.
        per_s = n / announce_s * (FANOUT + 1)
        return per_s * (advert / EGRESS_BYTES_S + DELIVERY_CPU_S)
    # A leaf-level hub relays its leaves' adverts to its leaves; every hub
    # sends one digest up per period.
    relay = FANOUT / announce_s * FANOUT * (advert / EGRESS_BYTES_S + DELIVERY_CPU_S)
    digest = digest_bytes(n, depth) / announce_s / EGRESS_BYTES_S
    return relay + digest


def digest_bytes(n: int, depth: int) -> float:
    """The largest digest: the top hub's children each list the best few
    nodes of every persona served in their subtree."""
    subtree = n / FANOUT
    personas_seen = DISTINCT_PERSONAS * (1 - math.exp(-subtree * PERSONAS_PER_NODE / 5_000))
    return min(personas_seen, DISTINCT_PERSONAS) * DIGEST_BEST * DIGEST_ENTRY_BYTES


def propagation_s(
    utilisation: float, hops: int, hop_ms: float, service_s: float, rng_seed: int
) -> float:
    """A tagged advert through ``hops`` hub queues under background load
    (Poisson arrivals at ``utilisation`` of each hub's capacity), simpy.
    Infinite when a hub is saturated."""
    if utilisation >= 1.0:
        return math.inf
    env = simpy.Environment()
    rng = np.random.default_rng(rng_seed)
    hubs = [simpy.Resource(env, capacity=1) for _ in range(hops)]
    arrival = service_s / utilisation if utilisation > 0 else math.inf

    def background(hub: simpy.Resource) -> simpy.events.ProcessGenerator:
        while True:
            yield env.timeout(rng.exponential(arrival))
            env.process(serve(hub))

    def serve(hub: simpy.Resource) -> simpy.events.ProcessGenerator:
        with hub.request() as turn:
            yield turn
            yield env.timeout(service_s)

    done: list[float] = []

    def tagged() -> simpy.events.ProcessGenerator:
        yield env.timeout(200 * service_s)  # let the queues fill first
        started = env.now
        for hub in hubs:
            yield env.timeout(hop_ms / 1000)
            with hub.request() as turn:
                yield turn
                yield env.timeout(service_s)
        done.append(env.now - started)

    if math.isfinite(arrival):
        for hub in hubs:
            env.process(background(hub))
    env.process(tagged())
    while not done:
        env.step()
    return done[0]


def stretch(
    design: str, tree: Tree, requests: int, rng: np.random.Generator
) -> tuple[list[float], list[float]]:
    """RTT to the node the router picks over RTT to the best node serving
    the persona anywhere, for requests from random nodes (Zipf personas)."""
    n = tree.n
    popularity = 1.0 / np.arange(1, DISTINCT_PERSONAS + 1) ** ZIPF_A
    popularity /= popularity.sum()
    serves = rng.choice(DISTINCT_PERSONAS, size=(n, PERSONAS_PER_NODE), p=popularity)
    queue = rng.poisson(1.0, size=n)
    successes = rng.binomial(RECORD, rng.beta(8, 2, size=n))
    reputation = wilson(successes, RECORD)
    asked = rng.choice(DISTINCT_PERSONAS, size=requests, p=popularity)
    found: list[float] = []
    added: list[float] = []
    for persona in asked:
        asker = int(rng.integers(n))
        servers = np.flatnonzero((serves == persona).any(axis=1))
        servers = servers[servers != asker]
        if len(servers) == 0:
            continue
        best = float(tree.rtt(asker, servers).min())
        candidates = servers
        if design == "digest":
            candidates = digest_candidates(tree, asker, servers, queue, reputation)
        rtts = tree.rtt(asker, candidates)
        chosen = int(np.argmax(scores(rtts, queue[candidates], reputation[candidates])))
        found.append(float(rtts[chosen]) / best)
        added.append(float(rtts[chosen]) - best)
    return found, added


def digest_candidates(
    tree: Tree, asker: int, servers: np.ndarray, queue: np.ndarray, reputation: np.ndarray
) -> np.ndarray:
    """What the lowest hub that knows of a server offers the asker: on its
    own hub, every sibling that serves (full adverts); higher up, the best
    few of each child subtree's digest, as that subtree's hub scored them."""
    for level in range(tree.depth):
        here = servers[tree.hub_of[level, servers] == tree.hub_of[level, asker]]
        if len(here):
            break
    else:
        here, level = servers, tree.depth
    if level == 0:
        return here
    groups = tree.hub_of[level - 1, here]
    listed = []
    for group in np.unique(groups):
        members = here[groups == group]
        seen_from = tree.rtt(int(members[0]), members)  # the child hub's place
        ranked = np.argsort(-scores(seen_from, queue[members], reputation[members]))
        listed.append(members[ranked[:DIGEST_BEST]])
    return np.concatenate(listed)


#: Generations a node's reputation is measured over.
RECORD = 20


def wilson(successes: np.ndarray, n: int) -> np.ndarray:
    """PeerStats.reputation for many peers at once (checked against it below)."""
    z = 1.96
    p = successes / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.asarray(np.maximum(0.0, (centre - spread) / (1 + z * z / n)))


def scores(rtt: np.ndarray, queue: np.ndarray, reputation: np.ndarray) -> np.ndarray:
    """continuum.mesh.routing.score for many candidates of one persona
    (capability 1, price 0), vectorised; :func:`check_scores` proves it equal."""
    w = WEIGHTS
    return np.asarray(
        w["capability"]
        + w["latency"] / (1.0 + rtt / LATENCY_SCALE_MS)
        + w["load"] / (1.0 + queue)
        + w["price"]
        + w["reputation"] * reputation
    )


def check_scores(rng: np.random.Generator) -> None:
    """The vectorised score is the router's, to the last digit that matters."""
    offer = Offer(persona="p", name="P")
    for _ in range(50):
        rtt, queue, ok = float(rng.uniform(1, 200)), int(rng.integers(0, 5)), int(rng.integers(21))
        stats = PeerStats(rtt_ms=rtt, successes=ok, failures=RECORD - ok)
        advert = Advert(
            node="a" * 52, seq=1, issued_at=0, expires_at=1, personas=[offer], queue_depth=queue
        )
        real = score(offer, advert, stats, False, 1.0)[1]
        ours = scores(np.array([rtt]), np.array([queue]), wilson(np.array([ok]), RECORD))[0]
        assert abs(real - ours) < 1e-9, (real, ours)


def run(requests: int) -> tuple[list[dict[str, object]], int, float]:
    rng = np.random.default_rng(SEED)
    check_scores(rng)
    advert = real_advert_bytes()
    settings = MeshSettings()
    announce_s = settings.announce_s
    rows: list[dict[str, object]] = []
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("simulating", total=len(SIZES) * 2)
        for n in SIZES:
            tree = Tree.build(n, rng)
            for design in ("flood", "digest"):
                use = hub_utilisation(design, n, tree.depth, advert, announce_s)
                hops = 2 * tree.depth  # up to the top hub and down again
                service = advert / EGRESS_BYTES_S + DELIVERY_CPU_S
                reach = propagation_s(use, hops, 20.0, service * FANOUT, SEED + n)
                if design == "digest":
                    # Interest climbs one digest period per level (half on average).
                    reach += tree.depth * announce_s / 2
                ratios, added = stretch(design, tree, requests, rng)
                if design == "flood":
                    leaf_in = n / announce_s * advert
                    memory = n * advert
                    hub_out = n / announce_s * (FANOUT + 1) * advert
                else:
                    leaf_in = FANOUT / announce_s * advert
                    memory = FANOUT * advert + digest_bytes(n, tree.depth)
                    hub_out = (
                        FANOUT / announce_s * FANOUT * advert
                        + digest_bytes(n, tree.depth) / announce_s
                    )
                rows.append(
                    {
                        "n": n,
                        "design": design,
                        "depth": tree.depth,
                        "hub_out": hub_out,
                        "leaf_in": leaf_in,
                        "memory": memory,
                        "utilisation": use,
                        "reach_s": reach,
                        "stretch_p50": float(np.median(ratios)),
                        "stretch_p99": float(np.quantile(ratios, 0.99)),
                        "added_p50": float(np.median(added)),
                        "added_p99": float(np.quantile(added, 0.99)),
                    }
                )
                progress.advance(task)
    return rows, advert, announce_s


def _bytes(value: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000:
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} PB"


def breaks(row: dict[str, object]) -> str:
    use = float(row["utilisation"])  # type: ignore[arg-type]
    if use >= 1.0:
        return f"hub egress saturated ({use:.0f}x a 1 Gbit/s link)"
    if float(row["leaf_in"]) > 1e6:  # type: ignore[arg-type]
        return "a home leaf's downlink (over 1 MB/s of adverts)"
    if float(row["memory"]) > 1e9:  # type: ignore[arg-type]
        return "a leaf's memory (over 1 GB of adverts)"
    return f"nothing yet (busiest hub at {use:.0%})"


def report(rows: list[dict[str, object]], advert: int, announce_s: float, requests: int) -> str:
    lines = [
        "## Mesh at scale (simulated: 1,000 to 1,000,000 nodes)",
        "",
        "Command: `make bench` (`tests/benchmarks/sim_mesh.py`)  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
        f"simpy {simpy.__version__}; {requests} routed requests per size and design.",
        "",
        f"From the code: a signed advert of {PERSONAS_PER_NODE} personas with embeddings is "
        f"{advert:,} bytes; announced every {announce_s:g} s; ranked by "
        "`continuum.mesh.routing.score`. Assumed: "
        f"{FANOUT} children per hub, 1 Gbit/s hub egress and {DELIVERY_CPU_S * 1e6:.0f} us CPU "
        f"per delivery, 20 ms per hub hop, nodes in city clusters on a 150 ms-wide plane, "
        f"{DISTINCT_PERSONAS:,} personas with Zipf({ZIPF_A}) popularity.",
        "",
        "| nodes | design | hub tiers | advert traffic out of the busiest hub | "
        "into each leaf | a leaf keeps | advert reaches all | stretch p50 | stretch p99 | "
        "RTT added p50 / p99, ms | breaks first |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        reach = float(row["reach_s"])  # type: ignore[arg-type]
        reach_text = "never (saturated)" if math.isinf(reach) else f"{reach:.2f} s"
        lines.append(
            f"| {row['n']:,} | {row['design']} | {row['depth']} | "
            f"{_bytes(float(row['hub_out']))}/s | {_bytes(float(row['leaf_in']))}/s | "  # type: ignore[arg-type]
            f"{_bytes(float(row['memory']))} | {reach_text} | "  # type: ignore[arg-type]
            f"{row['stretch_p50']:.2f} | {row['stretch_p99']:.2f} | "
            f"{row['added_p50']:.1f} / {row['added_p99']:.1f} | {breaks(row)} |"
        )
    lines += [
        "",
        "Stretch: RTT to the node the router chose over RTT to the best node serving the "
        "persona anywhere (1.00 = the best); the score also weighs load and reputation, so "
        "full knowledge does not always pick the nearest. 'Advert reaches all': for digest, "
        "the time until every hub's digest names the node (one digest period per tier, half "
        "on average), not every leaf holding the advert, which digest never does by design.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    rows, advert, announce_s = run(args.requests)
    section = report(rows, advert, announce_s, args.requests)
    console.print(section, markup=False)
    if args.write:
        write_section(args.write, "mesh-scale", section)


if __name__ == "__main__":
    main()
