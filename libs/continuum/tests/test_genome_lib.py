"""The genome library: layer references, manifests and signatures, the
safetensors header reader, the catalog fold, and layer blobs in the
JetStream Object Store."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct

import pytest
from nacl.signing import SigningKey
from nats.aio.client import Client

from continuum.events.genome import BaseModelRegistered, LayerPublished, ModuleShape
from continuum.genome import (
    LayerCatalog,
    LayerError,
    LayerNotFound,
    build_manifest,
    parse_layer_ref,
    parse_layer_spec,
    read_header,
    verify_manifest,
)
from continuum.genome.blobs import LayerBlobs


def safetensors_bytes(tensors: dict[str, tuple[list[int], bytes]]) -> bytes:
    header, offset, body = {}, 0, b""
    for name, (shape, data) in tensors.items():
        header[name] = {
            "dtype": "F32",
            "shape": shape,
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        body += data
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


def test_layer_specs() -> None:
    assert parse_layer_spec("python-async") == ("python-async", "latest", 1.0)
    assert parse_layer_spec("python-async@1.2.0:0.5") == ("python-async", "1.2.0", 0.5)
    assert parse_layer_spec("x:-1") == ("x", "latest", -1.0)
    for bad in ("../etc", "Upper", "x@", "x:abc", "x:20"):
        with pytest.raises(LayerError):
            parse_layer_spec(bad)


def test_one_layer_is_named_as_a_genome_names_it() -> None:
    """`genome pull/show/lineage` take LAYER@VERSION, as `persona genome set` does."""
    assert parse_layer_ref("zed-speak@1.0.0") == ("zed-speak", "1.0.0")
    assert parse_layer_ref("zed-speak") == ("zed-speak", "latest")
    assert parse_layer_ref("zed-speak", "2.0.0") == ("zed-speak", "2.0.0")
    assert parse_layer_ref("zed-speak@1.0.0", "1.0.0") == ("zed-speak", "1.0.0")
    with pytest.raises(LayerError, match="different versions"):
        parse_layer_ref("zed-speak@1.0.0", "2.0.0")
    with pytest.raises(LayerError, match="names a weight"):
        parse_layer_ref("zed-speak@1.0.0:0.5")


def test_header_reader_accounts_for_every_byte() -> None:
    data = safetensors_bytes({"a": ([2, 2], b"\0" * 16)})
    assert read_header(data)["a"].shape == (2, 2)
    with pytest.raises(LayerError, match="truncated"):
        read_header(data[:-1])
    with pytest.raises(LayerError, match="needs 16"):
        read_header(safetensors_bytes({"a": ([2, 2], b"\0" * 12)}))
    with pytest.raises(LayerError, match="pickle"):
        read_header(b"\x80\x04" + os.urandom(64))


def _published(name: str, version: str, key: SigningKey, parents: list[str]) -> LayerPublished:
    data = safetensors_bytes({"base_model.model.m.lora_A.weight": ([1, 1], b"\0" * 4)})
    config = {"peft_type": "LORA", "r": 1, "lora_alpha": 1, "target_modules": ["m"]}
    manifest, signature = build_manifest(
        config, data, {"description": "d"}, key, name=name, version=version, parents=parents
    )
    verify_manifest(manifest, signature)
    return LayerPublished(manifest=manifest, signature=signature, base_fingerprint="f")


def test_catalog_resolves_versions_and_walks_lineage() -> None:
    key = SigningKey.generate()
    catalog = LayerCatalog()
    catalog.apply("a", _published("a", "1.0.0", key, []), seq=3)
    catalog.apply("a", _published("a", "1.1.0", key, ["a@1.0.0"]), seq=9)
    catalog.apply("b", _published("b", "1.0.0", key, ["a@1.1.0"]), seq=12)
    catalog.apply(
        "builtin",
        BaseModelRegistered(
            base_model="builtin",
            fingerprint="f",
            modules=[ModuleShape(name="m", in_features=1, out_features=1)],
        ),
    )
    assert catalog.resolve("a").manifest.version == "1.1.0" and catalog.layers["a"].seq == 9
    assert catalog.resolve("a", "1.0.0").manifest.version == "1.0.0"
    with pytest.raises(LayerNotFound, match=r"no version '2\.0\.0'"):
        catalog.resolve("a", "2.0.0")
    with pytest.raises(LayerNotFound, match="unknown layer"):
        catalog.resolve("zzz")
    lineage = catalog.lineage("b")
    assert lineage.ancestors == [("b@1.0.0", "a@1.1.0"), ("a@1.1.0", "a@1.0.0")]
    assert catalog.lineage("a", "1.0.0").descendants == [
        ("a@1.0.0", "a@1.1.0"),
        ("a@1.1.0", "b@1.0.0"),
    ]
    assert "builtin" in catalog.base_models


async def test_blobs_are_content_addressed_and_read_without_consumers(nc: Client) -> None:
    from continuum.store import Topology

    await Topology(64 * 1024).bootstrap(nc.jetstream())
    blobs = LayerBlobs(nc.jetstream())
    data = os.urandom(1_300_000)  # three chunks
    sha = hashlib.sha256(data).hexdigest()
    assert not await blobs.has_layer(sha)
    with pytest.raises(KeyError):
        await blobs.get_layer(sha)
    await blobs.put_upload(sha, data)
    assert await blobs.get_upload(sha) == data
    await blobs.put_layer(sha, data)
    await blobs.put_layer(sha, data)  # stored once
    await blobs.delete_upload(sha)
    assert not await blobs.has_upload(sha)
    for _ in range(20):  # nats-py's get would leave 600 consumers behind: none here
        reads = await asyncio.gather(*(blobs.get_layer(sha) for _ in range(30)))
        assert all(r == data for r in reads)
    info = await nc.jetstream().stream_info("OBJ_GENOME_LAYERS")
    assert info.state.consumer_count == 0 and info.state.messages == 4  # 3 chunks + meta
