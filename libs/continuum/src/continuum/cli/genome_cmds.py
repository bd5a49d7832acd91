"""`continuum genome ...`: publish, find, inspect, pull and fork layers, and
look at persona-runtime's layer cache. Everything goes through the gateway;
manifests are signed here, with the creator's key, before they leave."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from nacl.signing import SigningKey
from pydantic import ValidationError
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn
from rich.table import Table

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, print_table, settings, shorten
from continuum.events.envelope import describe_validation_error
from continuum.events.genome import LayerManifest
from continuum.genome import (
    LayerError,
    build_manifest,
    creator_of,
    parse_layer_ref,
    read_header,
    sha256_hex,
    sign_manifest,
    verify_manifest,
)
from continuum.identity import KEY_FILE, NodeIdentity

app = typer.Typer(
    help="Genome layers: publish, search, pull, fork; the layer cache.", no_args_is_help=True
)

WEIGHTS_FILE = "adapter_model.safetensors"
CONFIG_FILE = "adapter_config.json"
MANIFEST_FILE = "continuum-layer.json"
_PICKLES = ("adapter_model.bin", "pytorch_model.bin", "*.pt", "*.pth", "*.pkl", "*.ckpt")
_CHUNK = 256 * 1024


def signing_key_of(key_file: Path | None) -> SigningKey:
    """--key FILE (a key from `continuum publisher keygen`), else
    CONTINUUM_CREATOR_KEY_FILE, else this node's own key."""
    path = key_file or (Path(p) if (p := os.environ.get("CONTINUUM_CREATOR_KEY_FILE")) else None)
    if path is None:
        path = settings().home / KEY_FILE
        if not path.exists():
            raise CliError(f"no creator key: give --key FILE (no node key at {path})")
    try:
        return NodeIdentity.from_seed(path.read_text(), str(path)).signing_key
    except OSError as exc:
        raise CliError(f"cannot read the key {path}: {exc}") from None


def _read_layer_dir(directory: Path) -> tuple[dict[str, Any], bytes, dict[str, Any]]:
    if not directory.is_dir():
        raise CliError(f"{directory} is not a directory")
    weights = directory / WEIGHTS_FILE
    if not weights.exists():
        pickles = [p.name for pattern in _PICKLES for p in directory.glob(pattern)]
        if pickles:
            raise CliError(
                f"{directory} holds pickled weights ({', '.join(pickles)}), which Continuum never "
                f"loads; save the adapter as safetensors (save_pretrained(..., "
                "safe_serialization=True))"
            )
        raise CliError(f"{directory} has no {WEIGHTS_FILE}")
    try:
        config = json.loads((directory / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {directory / CONFIG_FILE}: {exc}") from None
    draft_path = directory / MANIFEST_FILE
    try:
        draft = json.loads(draft_path.read_text()) if draft_path.exists() else {}
    except ValueError as exc:
        raise CliError(f"{draft_path} is not valid JSON: {exc}") from None
    if not isinstance(config, dict) or not isinstance(draft, dict):
        raise CliError(f"{CONFIG_FILE} and {MANIFEST_FILE} must hold JSON objects")
    data = weights.read_bytes()
    try:
        read_header(data)  # quick local check; the registry checks everything again
    except LayerError as exc:
        raise CliError(f"{weights}: {exc}") from None
    return config, data, draft.get("manifest", draft)


def _upload(data: bytes, sha: str) -> None:
    with Progress(
        "[bold]uploading",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("upload", total=len(data))

        def chunks() -> Iterator[bytes]:
            for start in range(0, len(data), _CHUNK):
                yield data[start : start + _CHUNK]
                progress.update(task, advance=min(_CHUNK, len(data) - start))

        gateway_client.request(
            "PUT",
            f"/v1/genome/blobs/{sha}",
            content=chunks(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))},
        )


def _show_version(layer: dict[str, Any], title: str) -> None:
    table = Table(show_header=False, title=title)
    table.add_column(style="bold")
    table.add_column()
    rows = [
        ("layer", layer["ref"]),
        ("description", layer["description"]),
        ("domains", ", ".join(layer["domains"]) or "-"),
        ("base model", layer["base_model"]),
        ("rank / targets", f"{layer['rank']} / {', '.join(layer['target_modules'])}"),
        ("size", f"{layer['size']:,} bytes"),
        ("sha256", layer["sha256"]),
        ("creator", layer["creator"]),
        ("licence", layer["license"]),
        ("parents", ", ".join(layer["parents"]) or "-"),
        ("spectrum", " ".join(f"{s:.3g}" for s in layer["spectrum"][:8]) or "-"),
    ]
    for key, value in rows:
        table.add_row(key, value)
    near = layer.get("near_duplicates") or []
    if near:
        table.add_row(
            "[yellow]near-duplicates[/]",
            ", ".join(f"{d['layer']} ({d['similarity']:.3f})" for d in near),
        )
    console.print(table)


@app.command("publish")
def publish(
    directory: Path = typer.Argument(..., help="A peft LoRA adapter directory."),
    name: str = typer.Option(None, help="Layer id (lowercase, digits, dashes)."),
    version: str = typer.Option(None, help="Version (default 1.0.0 or the draft's)."),
    description: str = typer.Option(None, help="What the layer is good at (searched)."),
    domains: str = typer.Option(None, help="Comma-separated domains."),
    base_model: str = typer.Option(None, "--base-model", help="Base model id (default builtin)."),
    license_: str = typer.Option(None, "--license", help="Licence of the weights."),
    parent: list[str] = typer.Option([], "--parent", help="Parent layer@version (repeat)."),
    key: Path = typer.Option(None, help="Creator key file (default: this node's key)."),
) -> None:
    """Sign and publish a layer: its weights are verified, stored once and indexed."""
    config, data, draft = _read_layer_dir(directory)
    signing_key = signing_key_of(key)
    try:
        manifest, signature = build_manifest(
            config,
            data,
            draft,
            signing_key,
            name=name,
            version=version,
            description=description,
            domains=[d.strip() for d in domains.split(",") if d.strip()] if domains else None,
            base_model=base_model,
            license=license_,
            parents=parent,
        )
    except LayerError as exc:
        raise CliError(str(exc)) from None
    _upload(data, manifest.sha256)
    body = {"manifest": manifest.model_dump(mode="json"), "signature": signature}
    layer = gateway_client.request("POST", "/v1/genome/layers", json=body)
    _show_version(layer, f"published {layer['ref']}")


@app.command("ls")
def ls(
    base_model: str = typer.Option(None, "--base-model", help="Only layers for this base model."),
    domain: str = typer.Option(None, help="Only layers with this domain."),
    limit: int = typer.Option(200, min=1, max=1000, help="At most this many."),
    offset: int = typer.Option(0, min=0, help="Skip this many."),
) -> None:
    """List layers (latest versions)."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    params.update({k: v for k, v in (("base_model", base_model), ("domain", domain)) if v})
    found = gateway_client.request("GET", "/v1/genome/layers", params=params)
    layers = found["layers"]
    print_table(
        "layers",
        ("id", "latest", "versions", "base", "rank", "domains", "description"),
        [
            (
                x["id"],
                x["latest"],
                str(len(x["versions"])),
                x["base_model"],
                str(x["rank"]),
                ", ".join(x["domains"])[:40],
                shorten(x["description"], 60),
            )
            for x in layers
        ],
        optional=("rank", "versions", "base", "domains"),
    )
    if found["count"] > offset + len(layers):
        console.print(f"{len(layers)} of {found['count']} layers (--offset to see more)")


@app.command("show")
def show(
    layer: str = typer.Argument(..., help="Layer id, or LAYER@VERSION."),
    version: str = typer.Option(None, help="Version (default latest)."),
) -> None:
    """One layer: its manifest, versions, near-duplicates and usage."""
    layer, version = _layer_ref(layer, version)
    found = gateway_client.request("GET", f"/v1/genome/layers/{layer}", params={"version": version})
    _show_version(found["version"], f"{found['id']} (versions: {', '.join(found['versions'])})")
    if found["usage"]:
        print_table(
            "usage",
            (
                "version",
                "generations",
                "completed",
                "personas",
                "tokens",
                "mean ms",
                "first token ms",
                "load ms",
                "last used",
            ),
            [
                (
                    u["version"],
                    str(u["generations"]),
                    str(u["completed"]),
                    str(u["personas"]),
                    str(u["tokens"]),
                    str(u["mean_duration_ms"]),
                    str(u["mean_first_token_ms"]),
                    str(u["mean_load_ms"]),
                    (u["last_used_at"] or "-")[:19],
                )
                for u in found["usage"]
            ],
        )
    else:
        console.print("not used by any generation yet")


#: all-MiniLM-L6-v2 cosine under which a description has nothing to do with
#: the query (unrelated sentences score around 0 to 0.15).
SEARCH_FLOOR = 0.2


@app.command("search")
def search(
    query: str = typer.Argument(..., help="What the layer should be good at."),
    k: int = typer.Option(10, "-k", min=1, max=100, help="How many results."),
    base_model: str = typer.Option(None, "--base-model", help="Only layers for this base model."),
    domain: str = typer.Option(None, help="Only layers with this domain."),
    min_score: float = typer.Option(
        SEARCH_FLOOR,
        "--min-score",
        min=-1.0,
        max=1.0,
        help="Cosine floor: a layer scoring under it is unrelated (-1 lists every layer).",
    ),
    mesh: str = typer.Option(
        "local", "--mesh", help="local (this node's registry) or global (every peer's too)."
    ),
) -> None:
    """Find layers by what they can do (cosine similarity of descriptions)."""
    if mesh not in ("local", "global"):
        raise CliError(f"--mesh must be local or global, not {mesh!r}")
    params: dict[str, Any] = {"q": query, "k": k, "min_score": min_score, "mesh": mesh}
    params.update({k_: v for k_, v in (("base_model", base_model), ("domain", domain)) if v})
    found = gateway_client.request("GET", "/v1/genome/search", params=params)
    if not found["results"]:
        console.print(
            f"no layer scores {min_score:g} or more for {query!r} "
            "(`--min-score -1` lists every layer by score)"
        )
        return
    where = mesh == "global"
    print_table(
        f"layers for {query!r}" + (" across the mesh" if where else ""),
        ("score", "layer", *(("node",) if where else ()), "base", "domains", "description"),
        [
            (
                f"{r['score']:.3f}",
                r["ref"],
                *((r.get("node_name") or r["node"][:12],) if where else ()),
                r["base_model"],
                shorten(", ".join(r["domains"]), 40),
                shorten(r["description"], 70),
            )
            for r in found["results"]
        ],
    )
    for gone in found.get("unreachable", []):
        who = gone["name"] or gone["node"][:12]
        console.print(f"[yellow]not searched[/] {who}: {gone['error']}", markup=True)


@app.command("pull")
def pull(
    layer: str = typer.Argument(..., help="Layer id, or LAYER@VERSION."),
    version: str = typer.Option(None, help="Version (default latest)."),
    out: Path = typer.Option(None, help="Directory to write (default ./ID-VERSION)."),
    source: str = typer.Option(
        None, "--from", help="A peer node (id, id prefix or name) to pull from over the mesh."
    ),
    install: bool = typer.Option(
        False, "--install", help="Also publish it to this node's registry (creator's signature)."
    ),
) -> None:
    """Download a layer as a peft adapter directory, verified before it is written."""
    layer, version = _layer_ref(layer, version)
    prefix = f"/v1/mesh/nodes/{quote(source, safe='')}" if source else "/v1/genome"
    whose = f"{source}'s" if source else "the registry's"
    manifest, signature, data = _fetch_verified(prefix, layer, version, whose)
    if install:
        _install_ancestors(prefix, manifest, whose, set())
        _install(manifest, signature, data)
    target = out or Path(f"{manifest.name}-{manifest.version}")
    target.mkdir(parents=True, exist_ok=True)
    (target / CONFIG_FILE).write_text(json.dumps(manifest.adapter_config, indent=2) + "\n")
    (target / WEIGHTS_FILE).write_bytes(data)
    doc = {"manifest": manifest.model_dump(mode="json"), "signature": signature}
    (target / MANIFEST_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    console.print(f"{manifest.ref} verified (sha256 and signature) and written to {target}")


def _fetch_verified(
    prefix: str, layer: str, version: str, whose: str
) -> tuple[LayerManifest, str, bytes]:
    """A layer's manifest and weights, believed only once the creator's
    signature, the weights' sha256 and their safetensors header check out."""
    signed = gateway_client.request(
        "GET", f"{prefix}/layers/{layer}/manifest", params={"version": version}
    )
    try:
        manifest = LayerManifest.model_validate(signed["manifest"])
        verify_manifest(manifest, signed["signature"])
    except (ValidationError, LayerError) as exc:
        raise CliError(f"{whose} manifest for {layer} does not verify: {exc}") from None
    data = _download(f"{prefix}/blobs/{manifest.sha256}", manifest.size)
    if sha256_hex(data) != manifest.sha256:
        raise CliError(f"hash mismatch: the weights of {manifest.ref} are not what was signed")
    try:
        read_header(data)
    except LayerError as exc:
        raise CliError(str(exc)) from None
    return manifest, str(signed["signature"]), data


def _install(manifest: LayerManifest, signature: str, data: bytes) -> None:
    _upload(data, manifest.sha256)
    body = {"manifest": manifest.model_dump(mode="json"), "signature": signature}
    installed = gateway_client.request("POST", "/v1/genome/layers", json=body)
    console.print(f"{installed['ref']} published to this node's registry")


def _install_ancestors(prefix: str, manifest: LayerManifest, whose: str, seen: set[str]) -> None:
    """A fork names its parents, and this node's registry takes a layer only
    once its parents are there: pull the missing ones first, oldest first."""
    for parent in manifest.parents:
        if parent in seen:
            continue
        seen.add(parent)
        name, version = _layer_ref(parent, None)
        with gateway_client.client() as http:
            here = http.get(f"/v1/genome/layers/{name}", params={"version": version})
        if here.status_code == 200:
            continue
        ancestor, signature, data = _fetch_verified(prefix, name, version, whose)
        _install_ancestors(prefix, ancestor, whose, seen)
        _install(ancestor, signature, data)


def _layer_ref(layer: str, version: str | None) -> tuple[str, str]:
    try:
        return parse_layer_ref(layer, version)
    except LayerError as exc:
        raise CliError(str(exc)) from None


def _download(path: str, size: int) -> bytes:
    parts: list[bytes] = []
    with (
        gateway_client.client(timeout=120) as http,
        Progress(
            "[bold]downloading",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("download", total=size)
        with http.stream("GET", path) as response:
            if response.status_code >= 400:
                response.read()
                gateway_client.check(response)
            for chunk in response.iter_bytes():
                parts.append(chunk)
                progress.update(task, advance=len(chunk))
    return b"".join(parts)


@app.command("fork")
def fork(
    layer: str = typer.Argument(..., help="Layer id (or id@version) to fork."),
    name: str = typer.Option(..., help="Id of the new layer."),
    description: str = typer.Option(None, help="New description (default: the source's)."),
    key: Path = typer.Option(None, help="Creator key file (default: this node's key)."),
) -> None:
    """A new layer with the same weights, the source as parent, signed by you."""
    layer_id, _, version = layer.partition("@")
    signed = gateway_client.request(
        "GET", f"/v1/genome/layers/{layer_id}/manifest", params={"version": version or "latest"}
    )
    source = LayerManifest.model_validate(signed["manifest"])
    signing_key = signing_key_of(key)
    doc = source.model_dump(mode="json")
    doc.update(
        name=name,
        version="1.0.0",
        parents=[source.ref],
        creator=creator_of(signing_key),
        description=description or source.description,
    )
    try:
        manifest = LayerManifest.model_validate(doc)
    except ValidationError as exc:
        raise CliError(f"invalid fork: {describe_validation_error(exc)}") from None
    body = {
        "manifest": manifest.model_dump(mode="json"),
        "signature": sign_manifest(manifest, signing_key),
    }
    forked = gateway_client.request("POST", f"/v1/genome/layers/{source.name}/fork", json=body)
    _show_version(forked, f"forked {source.ref} as {forked['ref']}")


@app.command("lineage")
def lineage(
    layer: str = typer.Argument(..., help="Layer id, or LAYER@VERSION."),
    version: str = typer.Option(None, help="Version (default latest)."),
) -> None:
    """Where a layer came from (parents) and what came from it (children, forks)."""
    layer, version = _layer_ref(layer, version)
    tree = gateway_client.request(
        "GET", f"/v1/genome/layers/{layer}/lineage", params={"version": version}
    )
    rows: list[tuple[str, ...]] = [("ancestor", e["child"], e["parent"]) for e in tree["ancestors"]]
    rows += [("descendant", e["parent"], e["child"]) for e in tree["descendants"]]
    print_table(f"lineage of {tree['layer']}", ("relation", "from", "to"), rows)


@app.command("cache")
def cache(
    pin: str = typer.Option(None, help="Pin a layer (never evicted; loaded now)."),
    unpin: str = typer.Option(None, help="Unpin a layer."),
) -> None:
    """persona-runtime's layer cache: per tier hits, misses, evictions, load times."""
    if pin or unpin:
        for layer_id, method in ((pin, "PUT"), (unpin, "DELETE")):
            if layer_id:
                report = gateway_client.request(method, f"/v1/genome/cache/pins/{layer_id}")
    else:
        report = gateway_client.request("GET", "/v1/genome/cache")
    tiers = report["tiers"]

    def fmt(value: Any) -> str:
        return "-" if value is None else str(value)

    print_table(
        "layer cache",
        (
            "tier",
            "entries",
            "MB used",
            "MB budget",
            "hits",
            "misses",
            "hit rate",
            "evictions",
            "loads",
            "mean load ms",
            "p50 load ms",
            "p50 hit ms",
            "prefetches",
        ),
        [
            (
                name,
                fmt(t["entries"]),
                f"{t['bytes'] / 1e6:.2f}",
                f"{t['budget_bytes'] / 1e6:.0f}",
                fmt(t["hits"]),
                fmt(t["misses"]),
                "-" if t["hit_rate"] is None else f"{t['hit_rate']:.0%}",
                fmt(t["evictions"]),
                fmt(t["loads"]),
                fmt(t["mean_load_ms"]),
                fmt(t["p50_load_ms"]),
                fmt(t["p50_hit_ms"]),
                fmt(t["prefetches"]),
            )
            for name, t in tiers.items()
        ],
        optional=(
            "p50 hit ms",
            "p50 load ms",
            "mean load ms",
            "prefetches",
            "evictions",
            "misses",
            "hits",
            "MB budget",
        ),
    )
    if report["pinned"]:
        console.print(f"pinned: {', '.join(report['pinned'])}")
