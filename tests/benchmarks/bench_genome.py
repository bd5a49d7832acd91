"""Genome layers: what switching expertise costs, and how fast layers are found.

Side by side in one run, on the built-in model (small preset) and on a
larger local config (hidden 1024, 12 layers), with rank-16 LoRA layers on
q_proj and v_proj:

- hot switch: the genome's adapter is in the live model (a pointer change);
  peft's own ``set_adapter`` with the same adapters loaded, for comparison;
- warm load: tensors in CPU memory, injected into the model;
- disk load: the verified file on the node's disk, verified again, decoded;
- cold load: fetched from the JetStream Object Store, sha256 and signature
  verified, decoded, injected;
- naive baseline: ``PeftModel.from_pretrained`` from a directory per
  request (and ``unload`` after it, to serve the next request);
- a Zipf(1.0) workload over 1,000 distinct layers with a hot budget that
  holds 10% of them, the warm tier at 10% or 50%, with and without the
  disk tier.

Search: the registry's local index (in-memory copy of Qdrant local mode's
points) against exact numpy search (recall@10) and qdrant-client's local
mode itself, at 1,000 and 100,000 layers, with and without filters.

Usage: python tests/benchmarks/bench_genome.py [--layers N] [--write FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from bench_common import write_section
from nacl.signing import SigningKey
from rich.console import Console
from rich.progress import track

from continuum.events.genome import BaseModelRegistered, LayerPublished
from continuum.genome import build_manifest
from continuum.genome.blobs import LayerBlobs
from continuum.node.embedded import NatsServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.store import Topology
from continuum_lm.resolve import Genome, ResolvedLayer
from continuum_persona.genome.disk import DiskLayers
from continuum_persona.genome.warm import WarmLayers
from continuum_persona.inference.transformers_backend import TransformersBackend

console = Console(highlight=False)
ROOT = Path(__file__).parents[2]
CACHE = ROOT / ".bench-cache"
RANK = 16
TARGETS = ("q_proj", "v_proj")
KEY = SigningKey.generate()


def ensure_small() -> Path:
    from continuum_lm import builtin

    path = CACHE / "builtin-small"
    if not builtin.is_built(path):
        console.print("building the built-in model (small preset, ~3 min) ...")
        builtin.build(path, "small")
    return path


def ensure_large() -> Path:
    """A larger Llama-style config (random weights: load costs do not depend on training)."""
    path = CACHE / "large-1024x12"
    if (path / "config.json").exists():
        return path
    import torch
    from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = ByT5Tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=1024,
        intermediate_size=2816,
        num_hidden_layers=12,
        num_attention_heads=16,
        num_key_value_heads=16,
        max_position_embeddings=1024,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(str(path), safe_serialization=True)
    tokenizer.save_pretrained(str(path))
    return path


def make_layers(
    base: BaseModelRegistered, count: int, seed: int = 0
) -> list[tuple[LayerPublished, bytes]]:
    from safetensors.numpy import save

    modules = [m for m in base.modules if m.name.rsplit(".", 1)[-1] in TARGETS]
    config = {
        "peft_type": "LORA",
        "r": RANK,
        "lora_alpha": 2 * RANK,
        "target_modules": list(TARGETS),
        "lora_dropout": 0.0,
        "bias": "none",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base.base_model,
    }
    rng = np.random.default_rng(seed)
    layers = []
    for i in track(range(count), description=f"making {count} rank-{RANK} layers", console=console):
        tensors = {}
        for m in modules:
            prefix = f"base_model.model.{m.name}"
            tensors[f"{prefix}.lora_A.weight"] = (
                0.02 * rng.standard_normal((RANK, m.in_features))
            ).astype(np.float32)
            tensors[f"{prefix}.lora_B.weight"] = (
                0.02 * rng.standard_normal((m.out_features, RANK))
            ).astype(np.float32)
        data = save(tensors)
        manifest, signature = build_manifest(
            config,
            data,
            {"description": f"bench layer {i}"},
            KEY,
            name=f"layer-{i}",
            base_model=base.base_model,
        )
        layers.append(
            (
                LayerPublished(
                    manifest=manifest, signature=signature, base_fingerprint=base.fingerprint
                ),
                data,
            )
        )
    return layers


def genome_of(published: LayerPublished) -> Genome:
    m = published.manifest
    return Genome((ResolvedLayer(m.name, m.version, 1.0, published),))


def backend_for(
    model_dir: Path, blobs: LayerBlobs, hot_bytes: int, warm_bytes: int, disk: Path | None = None
) -> TransformersBackend:
    backend = TransformersBackend(model_dir, "builtin", hot_budget_bytes=hot_bytes)
    tier = DiskLayers(disk, 1 << 40) if disk is not None else None
    backend.layers = WarmLayers(blobs, warm_bytes, lambda _: False, tier)
    return backend


async def activate(backend: TransformersBackend, genome: Genome) -> float:
    started = time.perf_counter()
    async with backend._lock:  # as a generation would
        await backend._activate(genome, {})
    return (time.perf_counter() - started) * 1000


def median(values: list[float]) -> float:
    return statistics.median(values)


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 20 else max(values)


async def bench_model(label: str, model_dir: Path, count: int, nats_dir: Path) -> dict[str, Any]:
    server = NatsServer(nats_dir, port=free_port(), server_name="bench-genome")
    server.start()
    nc = await connect_nats(server.url, name="bench-genome")
    try:
        await Topology(64 * 1024).bootstrap(nc.jetstream())
        blobs = LayerBlobs(nc.jetstream())
        probe = TransformersBackend(model_dir, "builtin")
        base = probe.base_description
        parameters = sum(p.numel() for p in probe.base.parameters())
        del probe
        layers = make_layers(base, count)
        for published, data in track(
            layers, description="storing them in the object store", console=console
        ):
            await blobs.put_layer(published.manifest.sha256, data)
        size = layers[0][0].manifest.size
        result: dict[str, Any] = {"label": label, "parameters": parameters, "layer_bytes": size}

        # hot switch: two genomes in the model, alternating
        backend = backend_for(model_dir, blobs, 1 << 40, 1 << 40)
        a, b = genome_of(layers[0][0]), genome_of(layers[1][0])
        await activate(backend, a)
        await activate(backend, b)
        result["hot"] = [await activate(backend, (a, b)[i % 2]) for i in range(400)]
        # warm load: tensors in CPU memory, the hot tier holds one layer
        warm_set = [genome_of(p) for p, _ in layers[2:42]]
        for g in warm_set:
            assert backend.layers is not None
            await backend.layers.get(g.layers[0], prefetch=True)
        backend.hot.lru.budget = size + 1
        result["warm"] = [await activate(backend, g) for g in warm_set]
        # cold load: nothing kept in the warm tier
        assert backend.layers is not None
        backend.layers.lru.budget = 1
        result["cold"] = [await activate(backend, genome_of(p)) for p, _ in layers[42:82]]
        # disk load: the layer's file on this node, nothing in memory
        disk = DiskLayers(nats_dir.parent / f"{nats_dir.name}-disk", 1 << 40)
        for published, data in layers[82:122]:
            disk.write(published.manifest.sha256, data)
        backend.layers = WarmLayers(blobs, 1, lambda _: False, disk)
        result["disk"] = [await activate(backend, genome_of(p)) for p, _ in layers[82:122]]
        del backend

        # the naive baseline: PeftModel.from_pretrained per request, then unload
        result["naive"] = naive(model_dir, layers[122:152])

        # Zipf over every layer, 10% of them hot
        result["zipf"] = {}
        hot = int(0.1 * count * size * 1.02)
        for name, warm_share, with_disk in (
            ("hot 10%, warm 10%", 0.1, False),
            ("hot 10%, warm 10%, disk", 0.1, True),
            ("hot 10%, warm 50%, disk", 0.5, True),
        ):
            folder = nats_dir.parent / f"{nats_dir.name}-zipf-{len(result['zipf'])}"
            warm = int(warm_share * count * size * 1.02)
            backend = backend_for(model_dir, blobs, hot, warm, folder if with_disk else None)
            result["zipf"][name] = await zipf(backend, layers, seed=7)
            if "set_adapter" not in result:
                result["set_adapter"] = peft_set_adapter(backend)
            del backend
            shutil.rmtree(folder, ignore_errors=True)
        return result
    finally:
        await nc.close()
        server.stop()


def naive(model_dir: Path, layers: list[tuple[LayerPublished, bytes]]) -> list[float]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True)
    model.eval()
    folder = Path(tempfile.mkdtemp(prefix="bench-layers-"))
    try:
        dirs = []
        for published, data in layers:
            path = folder / published.manifest.name
            path.mkdir()
            (path / "adapter_config.json").write_text(json.dumps(published.manifest.adapter_config))
            (path / "adapter_model.safetensors").write_bytes(data)
            dirs.append(path)
        times = []
        for path in dirs * 2:
            started = time.perf_counter()
            peft_model = PeftModel.from_pretrained(model, str(path))
            model = peft_model.unload()
            times.append((time.perf_counter() - started) * 1000)
        return times[len(dirs) // 2 :]  # the first few warm up the page cache and allocator
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def zipf(
    backend: TransformersBackend,
    layers: list[tuple[LayerPublished, bytes]],
    seed: int,
    warmup: int = 10_000,
    measured: int = 5_000,
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    n = len(layers)
    weights = 1.0 / np.arange(1, n + 1)
    order = rng.permutation(n)
    picks = order[rng.choice(n, size=warmup + measured, p=weights / weights.sum())]
    genomes = [genome_of(p) for p, _ in layers]
    for i in picks[:warmup]:
        await activate(backend, genomes[i])
    assert backend.layers is not None
    hot, warm, cold = backend.hot.stats, backend.layers.warm, backend.layers.cold
    disk = backend.layers.disk.stats if backend.layers.disk is not None else None

    def counts() -> tuple[int, ...]:
        return (hot.hits, hot.misses, warm.hits, warm.misses, cold.loads, disk.loads if disk else 0)

    before = counts()
    times = [await activate(backend, genomes[i]) for i in picks[warmup:]]
    after = counts()
    d = [x - y for x, y in zip(after, before, strict=True)]
    return {
        "mean": statistics.fmean(times),
        "p50": median(times),
        "p99": p99(times),
        "hot_hit": d[0] / max(1, d[0] + d[1]),
        "warm_hit": d[2] / max(1, d[2] + d[3]),
        "cold_share": d[4] / measured,
        "disk_share": d[5] / measured,
        "hot_entries": len(backend.hot.lru),
        "warm_entries": len(backend.layers.lru),
    }


def peft_set_adapter(backend: TransformersBackend) -> dict[str, float]:
    """peft's own switch with the same adapters loaded (it flips requires_grad
    on every adapter of every LoRA layer)."""
    names = [name for name, _, _ in backend.hot.lru.items()]
    times = []
    for i in range(60):
        started = time.perf_counter()
        backend.hot.peft.set_adapter(names[i % len(names)])
        times.append((time.perf_counter() - started) * 1000)
    return {"adapters": len(names), "p50": median(times)}


# -- search ---------------------------------------------------------------------

TOPICS = [
    "async Python", "SQL query tuning", "Rust lifetimes", "Kubernetes manifests", "React hooks",
    "pandas dataframes", "unit testing", "regular expressions", "Go concurrency", "C++ templates",
    "security reviews", "API design", "technical writing", "bash scripting", "data visualisation",
    "LaTeX documents", "Terraform modules", "GraphQL schemas", "numerical linear algebra", "poetry",
]  # fmt: skip
VERBS = [
    "refactors",
    "explains",
    "debugs",
    "reviews",
    "optimises",
    "documents",
    "teaches",
    "generates",
]
STYLES = ["for beginners", "with terse answers", "step by step", "with examples", "for experts"]
DOMAINS = ["python", "databases", "systems", "web", "ml", "devops", "writing", "math"]


def descriptions() -> list[str]:
    return [f"A layer that {v} {t} {s}" for t in TOPICS for v in VERBS for s in STYLES]


async def bench_search(counts: tuple[int, ...]) -> dict[str, Any]:
    from qdrant_client import QdrantClient

    from continuum.embeddings import Embedder
    from continuum_genome_registry.index import LayerPoint, LocalIndex, QdrantIndex, Query
    from continuum_genome_registry.signature import SIGNATURE_DIM

    embedder = Embedder()
    texts = descriptions()
    started = time.perf_counter()
    base_vectors = embedder.encode(texts)
    embed_ms = (time.perf_counter() - started) * 1000 / len(texts)
    queries = [f"{v.rstrip('s')} my {t.lower()} code" for t in TOPICS for v in VERBS[:5]]
    qv = embedder.encode(queries)
    q_single = []
    for q in queries[:40]:
        started = time.perf_counter()
        embedder.encode([q])
        q_single.append((time.perf_counter() - started) * 1000)
    rng = np.random.default_rng(3)
    results: dict[str, Any] = {
        "embed_query_ms": median(q_single),
        "embed_batch_ms": embed_ms,
        "rows": [],
    }
    for count in counts:
        picks = rng.integers(0, len(texts), size=count)
        noise = rng.standard_normal((count, base_vectors.shape[1])).astype(np.float32) * 0.02
        vectors = base_vectors[picks] + noise
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        domains = [DOMAINS[i % len(DOMAINS)] for i in rng.integers(0, len(DOMAINS), size=count)]
        bases = ["builtin" if r < 0.9 else "other" for r in rng.random(count)]
        sig = np.zeros(SIGNATURE_DIM, dtype=np.float32)
        points = [
            LayerPoint(f"layer-{i}", "1.0.0", bases[i], (domains[i],), vectors[i], sig)
            for i in range(count)
        ]
        local = LocalIndex(QdrantClient(location=":memory:"))
        local.add_mirror_only(points)
        qdrant = QdrantIndex(QdrantClient(location=":memory:"))
        for start in range(0, count, 2000):
            qdrant.upsert(points[start : start + 2000])
        domain_mask = np.array([d == "python" for d in domains]) & np.array(
            [b == "builtin" for b in bases]
        )
        for filtered in (False, True):
            ours, exact_t, theirs, recall, recall_q = [], [], [], [], []
            n_qdrant = 40 if (count <= 10_000 or not filtered) else 8
            for j, q in enumerate(qv):
                query = Query(
                    q, 10, "builtin" if filtered else None, "python" if filtered else None
                )
                started = time.perf_counter()
                hits = local.search(query)
                ours.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                scores = vectors @ (q / np.linalg.norm(q))
                if filtered:
                    scores = np.where(domain_mask, scores, -np.inf)
                truth = {f"layer-{i}" for i in np.argsort(-scores)[:10]}
                exact_t.append((time.perf_counter() - started) * 1000)
                recall.append(len(truth & {h.layer_id for h in hits}) / 10)
                if j < n_qdrant:
                    started = time.perf_counter()
                    qhits = qdrant.search(query)
                    theirs.append((time.perf_counter() - started) * 1000)
                    recall_q.append(len(truth & {h.layer_id for h in qhits}) / 10)
            results["rows"].append(
                {
                    "count": count,
                    "filtered": filtered,
                    "ours_p50": median(ours),
                    "ours_p99": p99(ours),
                    "exact_p50": median(exact_t),
                    "qdrant_p50": median(theirs),
                    "recall": statistics.fmean(recall),
                    "recall_qdrant": statistics.fmean(recall_q),
                    "queries": len(ours),
                    "qdrant_queries": len(theirs),
                }
            )
        local.close()
        qdrant.close()
    return results


# -- report -----------------------------------------------------------------------


def render(models: list[dict[str, Any]], search: dict[str, Any], count: int, command: str) -> str:
    lines = [
        "## Genome layers (switching expertise, finding layers)",
        "",
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node() or 'host'}, "
        f"{platform.machine()}, Python {platform.python_version()}, `{command}`. "
        f"Rank-{RANK} LoRA layers on q_proj and v_proj; medians unless stated.",
        "",
        "(a) What it costs to make a genome live, per request",
        "",
        "| model | layer | hot switch | peft set_adapter | warm load | disk load "
        "| cold load | naive from_pretrained | naive / hot |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        hot, naive_ms = median(m["hot"]), median(m["naive"])
        switch = m["set_adapter"]
        lines.append(
            f"| {m['label']} ({m['parameters'] / 1e6:.1f}M parameters) "
            f"| {m['layer_bytes'] / 1e6:.2f} MB | {hot:.3f} ms "
            f"| {switch['p50']:.2f} ms ({switch['adapters']} loaded) "
            f"| {median(m['warm']):.2f} ms | {median(m['disk']):.2f} ms "
            f"| {median(m['cold']):.2f} ms | {naive_ms:.2f} ms "
            f"| {naive_ms / hot:,.0f}x |"
        )
    lines += [
        "",
        "Hot: the genome's adapter is in the model; switching sets each LoRA layer's active "
        "adapter (target p50 under 1 ms). Warm: tensors in CPU memory, assigned into new LoRA "
        "modules (no copy, no random init). Disk: the verified file on this node, read, verified "
        "again (sha256, signature), decoded. Cold: fetched from the JetStream Object Store, "
        "verified, decoded. Naive: `PeftModel.from_pretrained` from a local directory and "
        "`unload()`.",
        "",
        f"(b) Zipf(1.0) requests over {count:,} distinct layers, the hot tier holding 10% of them "
        "(10,000 requests of warm-up to reach steady state, 5,000 measured; the disk tier, "
        "where present, may hold every layer)",
        "",
        "| model | budgets | mean ms / request | p50 | p99 | hot hits "
        "| warm hits (of hot misses) | disk loads / request | cold loads / request "
        "| naive / ours (mean) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        naive_mean = statistics.fmean(m["naive"])
        for name, z in m["zipf"].items():
            lines.append(
                f"| {m['label']} | {name} | {z['mean']:.3f} | {z['p50']:.3f} | {z['p99']:.2f} "
                f"| {z['hot_hit']:.0%} | {z['warm_hit']:.0%} | {z['disk_share']:.3f} "
                f"| {z['cold_share']:.3f} "
                f"| {naive_mean / z['mean']:.1f}x |"
            )
    lines += [
        "",
        "Target: at least 20x faster per request than the naive baseline at steady state.",
        "",
        "(c) Search: cosine top-10 over layer descriptions (MiniLM, 384 dimensions); vectors are "
        "real embeddings of 800 synthetic descriptions, jittered to reach the count",
        "",
        "| layers | filter | ours p50 | ours p99 | recall@10 (ours) | exact numpy p50 "
        "| qdrant-client local mode p50 | recall@10 (local mode) |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in search["rows"]:
        lines.append(
            f"| {r['count']:,} | {'base model + domain' if r['filtered'] else 'none'} "
            f"| {r['ours_p50']:.2f} ms | {r['ours_p99']:.2f} ms | {r['recall']:.3f} "
            f"| {r['exact_p50']:.2f} ms | {r['qdrant_p50']:.1f} ms ({r['qdrant_queries']} queries) "
            f"| {r['recall_qdrant']:.3f} |"
        )
    lines += [
        "",
        f"Embedding the query first takes {search['embed_query_ms']:.1f} ms (one text; "
        f"{search['embed_batch_ms']:.2f} ms per text in batches). Target: search p50 under 20 ms "
        "at 100,000 layers. With a Qdrant server (compose, Helm) the search is Qdrant's HNSW; it "
        "could not run here.",
        "",
    ]
    return "\n".join(lines)


async def main(count: int) -> str:
    models = []
    with tempfile.TemporaryDirectory(prefix="bench-genome-") as tmp:
        for label, path in (
            ("built-in (small)", ensure_small()),
            ("hidden 1024, 12 layers", ensure_large()),
        ):
            console.print(f"[bold]{label}[/]")
            models.append(await bench_model(label, path, count, Path(tmp) / label.split()[0]))
    console.print("[bold]search[/]")
    search = await bench_search((1_000, 100_000))
    command = "make bench" if "--write" in sys.argv else " ".join(["python", *sys.argv])
    if "--write" in sys.argv:
        plot(Path(sys.argv[sys.argv.index("--write") + 1]).parent, models)
    return render(models, search, count, command)


def plot(folder: Path, models: list[dict[str, Any]]) -> None:
    """benchmarks-genome.png: per-request cost by tier, and under Zipf."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.4))
    kinds = ["hot", "warm", "disk", "cold", "naive"]
    width = 0.38
    for offset, m in zip((-width / 2, width / 2), models, strict=True):
        values = [median(m[k]) for k in kinds]
        left.bar([i + offset for i in range(len(kinds))], values, width, label=m["label"])
    left.set_yscale("log")
    left.set_xticks(
        range(len(kinds)), ["hot", "warm", "disk", "cold\n(registry)", "naive\nfrom_pretrained"]
    )
    left.axhline(1, color="red", lw=1, label="1 ms")
    left.set(ylabel="ms per request (median, log)", title="making a genome live")
    left.legend(fontsize=8)
    configs = list(models[0]["zipf"])
    for offset, m in zip((-width / 2, width / 2), models, strict=True):
        naive_mean = statistics.fmean(m["naive"])
        speedups = [naive_mean / m["zipf"][c]["mean"] for c in configs]
        right.bar([i + offset for i in range(len(configs))], speedups, width, label=m["label"])
    right.axhline(20, color="red", lw=1, label="target 20x")
    right.set_xticks(range(len(configs)), [c.replace(", ", "\n") for c in configs])
    right.set(
        ylabel="naive mean / cached mean", title="Zipf(1.0), 1,000 layers: speed-up per request"
    )
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / "benchmarks-genome.png", dpi=110)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--layers", type=int, default=1000)
    parser.add_argument("--write", type=Path, help="Markdown file to write the table into.")
    args = parser.parse_args()
    random.seed(0)
    section = asyncio.run(main(args.layers))
    console.print(section)
    if args.write:
        write_section(args.write, "genome", section)
