"""The workshop's layer cache: verified layers from the real object store,
kept within a byte budget (the least used go first)."""

from __future__ import annotations

import torch
from nacl.signing import SigningKey
from nats.aio.client import Client
from safetensors.torch import save

from continuum.events.genome import LayerPublished
from continuum.genome import LayerCatalog, build_manifest
from continuum.genome.blobs import LayerBlobs
from continuum.store import Topology
from continuum_academy.workshop import Workshop

HIDDEN, RANK = 16, 2


def _layer(name: str, seed: int, key: SigningKey) -> tuple[LayerPublished, bytes]:
    gen = torch.Generator().manual_seed(seed)
    prefix = "base_model.model.model.layers.0.self_attn.q_proj"
    data = save(
        {
            f"{prefix}.lora_A.weight": torch.randn(RANK, HIDDEN, generator=gen),
            f"{prefix}.lora_B.weight": torch.randn(HIDDEN, RANK, generator=gen),
        }
    )
    config = {"peft_type": "LORA", "r": RANK, "lora_alpha": 4, "target_modules": ["q_proj"]}
    manifest, signature = build_manifest(
        config, data, {"description": "d"}, key, name=name, version="1.0.0"
    )
    return LayerPublished(manifest=manifest, signature=signature, base_fingerprint="f"), data


async def _unreachable(subject: str, body: dict[str, object], timeout: float) -> dict[str, object]:
    raise AssertionError("the cache test publishes nothing")


async def test_layers_are_cached_within_the_byte_budget(nc: Client) -> None:
    await Topology(64 * 1024).bootstrap(nc.jetstream())
    key, catalog, blobs = SigningKey.generate(), LayerCatalog(), LayerBlobs(nc.jetstream())
    for i, name in enumerate(("alpha", "beta", "gamma")):
        published, data = _layer(name, i, key)
        await blobs.put_layer(published.manifest.sha256, data)
        catalog.apply(name, published, seq=i + 1)
    layer_bytes = 2 * RANK * HIDDEN * 4  # A and B, float32
    workshop = Workshop(catalog, blobs, key, _unreachable, cache_bytes=2 * layer_bytes)

    ref, first = await workshop.layer("alpha")
    assert ref == "alpha@1.0.0" and first.rank == RANK and first.alpha == 4.0
    again = (await workshop.layer("alpha"))[1]
    assert again is first  # served from the cache, not decoded again
    await workshop.layer("alpha")
    await workshop.layer("beta")
    await workshop.layer("gamma")  # no room: asked for once, it does not push out a layer

    assert workshop.cache.used <= workshop.cache.budget
    assert {"alpha@1.0.0", "beta@1.0.0"} == {k for k, _, _ in workshop.cache.items()}
    for _ in range(2):  # asked for more often than beta now: it takes beta's place
        _, gamma = await workshop.layer("gamma")
    assert {"alpha@1.0.0", "gamma@1.0.0"} == {k for k, _, _ in workshop.cache.items()}
    assert set(gamma.tensors) == {
        f"base_model.model.model.layers.0.self_attn.q_proj.lora_{m}.weight" for m in "AB"
    }


async def test_a_layer_larger_than_the_budget_is_served_but_not_kept(nc: Client) -> None:
    await Topology(64 * 1024).bootstrap(nc.jetstream())
    key, catalog, blobs = SigningKey.generate(), LayerCatalog(), LayerBlobs(nc.jetstream())
    published, data = _layer("big", 0, key)
    await blobs.put_layer(published.manifest.sha256, data)
    catalog.apply("big", published, seq=1)
    workshop = Workshop(catalog, blobs, key, _unreachable, cache_bytes=16)

    _, weights = await workshop.layer("big")
    assert weights.nbytes > 16
    assert len(workshop.cache) == 0 and workshop.cache.used == 0
