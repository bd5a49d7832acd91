"""The genome on a real model: hot switching, exact `cat` sums, the warm and
hot tiers (LRU by bytes, pins, single flight), and integrity checks before
anything is loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import torch
from nacl.signing import SigningKey

from continuum.events.genome import LayerPublished
from continuum.genome import LayerError
from continuum_lm.generation import BackendError, ChatMessage, GenerationRequest
from continuum_lm.resolve import Genome, ResolvedLayer
from continuum_persona.genome.warm import WarmLayers
from continuum_persona.inference.transformers_backend import TransformersBackend
from continuum_persona.testing.layers import (
    MemorySource,
    publish_locally,
    train_test_layer,
    transcript,
)

KEY = SigningKey.generate()


@pytest.fixture(scope="module")
def layer_dirs(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("layers")
    return [
        train_test_layer(tiny_model_dir, root / "zeds", transcript("z" * 40), seed=1),
        train_test_layer(tiny_model_dir, root / "kays", transcript("k" * 40), seed=2),
        train_test_layer(tiny_model_dir, root / "qus", transcript("q" * 40), seed=3),
    ]


def make_backend(model_dir: Path, hot_budget: int = 1 << 30, pins: set[str] | None = None):  # type: ignore[no-untyped-def]
    pins = pins if pins is not None else set()
    backend = TransformersBackend(
        model_dir, "builtin", hot_budget_bytes=hot_budget, pinned=pins.__contains__
    )
    source = MemorySource()
    backend.layers = WarmLayers(source, 1 << 30, pins.__contains__)
    return backend, source


def published(
    backend: TransformersBackend, source: MemorySource, directory: Path
) -> LayerPublished:
    event, data = publish_locally(directory, KEY, backend.base_description, directory.name)
    source.blobs[event.manifest.sha256] = data
    return event


def genome(*layers: tuple[LayerPublished, float], combination: str = "cat") -> Genome:
    return Genome(
        tuple(ResolvedLayer(p.manifest.name, p.manifest.version, w, p) for p, w in layers),
        combination,
    )


def request(g: Genome | None) -> GenerationRequest:
    messages = [ChatMessage("system", "You are Debugger AI."), ChatMessage("user", "Ada: hi")]
    return GenerationRequest(
        messages, max_tokens=16, temperature=0.0, speaker="Debugger AI", genome=g
    )


async def say(backend: TransformersBackend, g: Genome | None) -> str:
    return "".join([p async for p in backend.stream(request(g), asyncio.Event())])


def logits(backend: TransformersBackend) -> torch.Tensor:
    ids = backend.tokenizer("Ada: hello there", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out: torch.Tensor = backend.base(input_ids=ids).logits
    return out


async def test_layers_switch_and_the_base_comes_back(
    tiny_model_dir: Path, layer_dirs: list[Path]
) -> None:
    backend, source = make_backend(tiny_model_dir)
    zeds, kays = (published(backend, source, d) for d in layer_dirs[:2])
    plain, base_logits = await say(backend, None), logits(backend)
    with_z = await say(backend, genome((zeds, 1.0)))
    assert "zzz" in with_z and "zzz" not in plain, (plain, with_z)
    await say(backend, genome((kays, 1.0)))
    with_k = logits(backend)
    assert (with_k - base_logits).abs().max() > 0.5  # the other layer is live now
    assert await say(backend, genome()) == plain  # the empty genome is the base model
    assert torch.equal(logits(backend), base_logits)
    assert await say(backend, genome((zeds, 1.0))) == with_z  # a hot hit: same adapter
    stats = backend.hot.stats
    assert (stats.hits, stats.misses) == (1, 2) and stats.recent_hit_ms[0] < 50
    assert source.fetches == 2  # each layer fetched once from the cold tier


async def test_cat_combination_is_the_exact_weighted_sum(
    tiny_model_dir: Path, layer_dirs: list[Path]
) -> None:
    backend, source = make_backend(tiny_model_dir)
    zeds, kays = (published(backend, source, d) for d in layer_dirs[:2])
    request_z = request(genome((zeds, 1.0)))
    await backend._activate(request_z.genome, request_z.stats)
    only_z = logits(backend)
    combined = genome((zeds, 1.0), (kays, 0.0))
    await backend._activate(combined, {})
    assert torch.allclose(logits(backend), only_z, atol=1e-4)  # 1*z + 0*k == z
    await backend._activate(genome((zeds, 0.5), (kays, 0.5)), {})
    assert not torch.allclose(logits(backend), only_z, atol=1e-3)
    for combination in ("linear", "ties", "dare_linear", "svd"):
        await backend._activate(genome((zeds, 0.6), (kays, 0.4), combination=combination), {})
        assert backend.hot.active.startswith("g_")


async def test_hot_tier_evicts_least_recently_used_by_bytes_and_keeps_pins(
    tiny_model_dir: Path, layer_dirs: list[Path]
) -> None:
    pins: set[str] = set()
    backend, source = make_backend(tiny_model_dir, pins=pins)
    layers = [published(backend, source, d) for d in layer_dirs]
    one = layers[0].manifest.size  # safetensors of f32 LoRA: about the tensor bytes
    backend.hot.lru.budget = backend.hot.stats.budget_bytes = int(one * 2.2)
    pins.add(layers[0].manifest.name)
    for layer in layers:
        await backend._activate(genome((layer, 1.0)), {})
    names = [e["adapter"] for e in backend.hot.entries()]
    assert len(names) == 2 and backend.hot.stats.evictions == 1
    first = backend.hot.slot_of[layers[0].manifest.sha256]
    assert first in names  # pinned: the second layer went instead
    assert backend.hot.entries()[0]["pinned"] is True
    peft_adapters = set(backend.hot.peft.peft_config)
    assert peft_adapters == set(names)  # the third layer took over the evicted one's slot
    assert set(backend.hot.slot_of) == {layers[0].manifest.sha256, layers[2].manifest.sha256}


async def test_a_reused_slot_serves_the_new_layer_exactly(
    tiny_model_dir: Path, layer_dirs: list[Path]
) -> None:
    fresh, source = make_backend(tiny_model_dir)
    layers = [published(fresh, source, d) for d in layer_dirs]
    await fresh._activate(genome((layers[2], 1.0)), {})
    expected = logits(fresh)  # the third layer, loaded the plain way
    backend, source2 = make_backend(tiny_model_dir)
    source2.blobs = source.blobs
    one = layers[0].manifest.size
    backend.hot.lru.budget = int(one * 1.5)  # room for one layer: every miss reuses the slot
    for layer in layers:
        await backend._activate(genome((layer, 1.0)), {})
    assert len(backend.hot.entries()) == 1 and backend.hot.stats.evictions == 2
    assert torch.allclose(logits(backend), expected, atol=1e-5)


async def test_warm_tier_fetches_once_for_concurrent_requests(
    tiny_model_dir: Path, layer_dirs: list[Path]
) -> None:
    backend, source = make_backend(tiny_model_dir)
    zeds = published(backend, source, layer_dirs[0])
    layer = genome((zeds, 1.0)).layers[0]
    assert backend.layers is not None
    got = await asyncio.gather(*(backend.layers.get(layer) for _ in range(5)))
    assert source.fetches == 1 and all(g is got[0] for g in got)
    assert backend.layers.warm.misses == 5 and backend.layers.cold.loads == 1


@pytest.mark.parametrize("damage", ["bytes", "signature", "base"])
async def test_tampered_layers_are_refused_before_loading(
    tiny_model_dir: Path, layer_dirs: list[Path], damage: str
) -> None:
    backend, source = make_backend(tiny_model_dir)
    zeds = published(backend, source, layer_dirs[0])
    sha = zeds.manifest.sha256
    if damage == "bytes":
        source.blobs[sha] = source.blobs[sha][:-4] + b"\0\0\0\0"
        expected = "hash mismatch"
    elif damage == "signature":
        other = SigningKey.generate()
        zeds = replace_signature(zeds, other)
        expected = "does not verify"
    else:
        zeds = zeds.model_copy(update={"base_fingerprint": "0" * 16})
        expected = "was made for base model"
    with pytest.raises(BackendError, match=expected):
        await say(backend, genome((zeds, 1.0)))
    assert backend.hot.peft is None  # nothing was injected into the model


def replace_signature(event: LayerPublished, key: SigningKey) -> LayerPublished:
    import base64

    from continuum.genome import canonical_bytes

    forged = base64.b64encode(key.sign(canonical_bytes(event.manifest)).signature).decode()
    return event.model_copy(update={"signature": forged})


def test_unknown_layers_in_a_genome_are_named() -> None:
    from continuum.events.persona import GenomeLayerRef
    from continuum.genome import LayerCatalog
    from continuum_lm.resolve import resolve_genome

    with pytest.raises(LayerError, match="unknown layer 'nope'"):
        resolve_genome([GenomeLayerRef(layer_id="nope")], "cat", LayerCatalog())


async def test_the_disk_tier_survives_a_restart_and_drops_a_damaged_file(
    tiny_model_dir: Path, layer_dirs: list[Path], tmp_path: Path
) -> None:
    from continuum_persona.genome.disk import DiskLayers

    backend, source = make_backend(tiny_model_dir)
    zeds = published(backend, source, layer_dirs[0])
    layer = genome((zeds, 1.0)).layers[0]
    first = WarmLayers(source, 1 << 30, lambda _: False, DiskLayers(tmp_path / "disk", 1 << 30))
    await first.get(layer)
    assert source.fetches == 1 and first.cold.loads == 1
    file = tmp_path / "disk" / f"{zeds.manifest.sha256}.safetensors"
    assert file.read_bytes() == source.blobs[zeds.manifest.sha256]

    restarted = WarmLayers(source, 1 << 30, lambda _: False, DiskLayers(tmp_path / "disk", 1 << 30))
    await restarted.get(layer)
    assert source.fetches == 1 and restarted.disk is not None and restarted.disk.stats.hits == 1

    file.write_bytes(file.read_bytes()[:-8] + b"\0" * 8)  # bit rot
    again = WarmLayers(source, 1 << 30, lambda _: False, DiskLayers(tmp_path / "disk", 1 << 30))
    weights = await again.get(layer)
    assert weights.sha256 == zeds.manifest.sha256 and source.fetches == 2  # fetched again
    assert file.read_bytes() == source.blobs[zeds.manifest.sha256]  # and rewritten


def test_the_disk_tier_is_bounded_by_bytes(tmp_path: Path) -> None:
    from continuum_persona.genome.disk import DiskLayers

    disk = DiskLayers(tmp_path, 250)
    for i in range(3):
        disk.write(f"{i:064x}", b"x" * 100)
    assert len(list(tmp_path.glob("*.safetensors"))) == 2 and disk.stats.evictions == 1
    assert disk.read(f"{0:064x}") is None and disk.read(f"{2:064x}") == b"x" * 100
