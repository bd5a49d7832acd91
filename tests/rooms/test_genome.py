"""Genome layers end to end: a layer trained here is published through the
gateway to the genome-registry, found by search, set into a persona's genome
in the middle of a conversation, and the persona's next answer comes from
it. Every kind of bad layer is refused with nothing stored; an interrupted
upload leaves nothing visible; a registry restart loses nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import pickle
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from nacl.signing import SigningKey
from rooms_harness import RoomNode, cli, make_room, post, replies, wait_for
from safetensors.numpy import load, save

from continuum.events.genome import LayerManifest
from continuum.genome import build_manifest, canonical_bytes
from continuum.testing.processes import wait_service_ready
from continuum_persona.testing.layers import train_test_layer, transcript

KEY = SigningKey.generate()
REGISTRY_LIMIT = 150_000


@pytest.fixture(scope="module")
def persona_env() -> dict[str, str]:
    return {"CONTINUUM_PERSONA_TEMPERATURE": "0"}  # greedy: the layer's effect is certain


@pytest.fixture(scope="module")
def registry_env() -> dict[str, str]:
    return {"CONTINUUM_GENOME_MAX_LAYER_BYTES": str(REGISTRY_LIMIT)}


@pytest.fixture(scope="module")
def service_env() -> dict[str, str]:
    return {"CONTINUUM_GATEWAY_MAX_LAYER_BYTES": "1000000"}


@pytest.fixture(scope="module")
def layers(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("layers")
    return {
        "zed": train_test_layer(tiny_model, root / "zed", transcript("z" * 40), seed=1),
        "async": train_test_layer(tiny_model, root / "async", "async def await " * 4, steps=3),
        "sql": train_test_layer(tiny_model, root / "sql", "SELECT * FROM t " * 4, steps=3, seed=4),
        "big": train_test_layer(tiny_model, root / "big", "b" * 48, rank=64, steps=1),
    }


@pytest.fixture
async def api(room_node: RoomNode) -> AsyncIterator[httpx.AsyncClient]:
    async with room_node.client() as client:
        yield client


def read_layer(directory: Path) -> tuple[dict[str, Any], bytes]:
    config = json.loads((directory / "adapter_config.json").read_text())
    return config, (directory / "adapter_model.safetensors").read_bytes()


def signed(
    config: dict[str, Any], data: bytes, name: str, key: SigningKey = KEY, **fields: Any
) -> dict[str, Any]:
    draft = {"description": f"test layer {name}", **fields}
    manifest, signature = build_manifest(config, data, draft, key, name=name)
    return {"manifest": manifest.model_dump(mode="json"), "signature": signature}


async def upload(api: httpx.AsyncClient, data: bytes, sha: str | None = None) -> httpx.Response:
    sha = sha or hashlib.sha256(data).hexdigest()
    return await api.put(f"/v1/genome/blobs/{sha}", content=data)


async def publish(
    api: httpx.AsyncClient, body: dict[str, Any], data: bytes | None = None
) -> httpx.Response:
    if data is not None:
        uploaded = await upload(api, data)
        assert uploaded.status_code in (200, 201), uploaded.text
    return await api.post("/v1/genome/layers", json=body)


async def layer_ids(api: httpx.AsyncClient) -> set[str]:
    return {x["id"] for x in (await api.get("/v1/genome/layers")).json()["layers"]}


async def answer_to(api: httpx.AsyncClient, room: str, text: str) -> dict[str, Any]:
    message_id = await post(api, room, text)

    async def answered() -> dict[str, Any] | None:
        found = [m for m in await replies(api, room, message_id) if m["status"] == "complete"]
        return found[0] if found else None

    result: dict[str, Any] = await wait_for(answered, timeout=90)
    return result


async def test_a_layer_published_found_and_set_mid_conversation_changes_the_next_answer(
    room_node: RoomNode, api: httpx.AsyncClient, layers: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key_file = tmp_path / "creator.key"
    key_file.write_text(base64.b64encode(bytes(KEY)).decode() + "\n")
    key_file.chmod(0o600)
    trained = cli(
        room_node, home, "genome", "train", str(tmp_path / "async"), "--name", "python-async",
        "--description", "Refactors Python code to async/await and asyncio coroutines",
        "--text", "async def main():\n    await asyncio.sleep(1)", "--steps", "3", "--rank", "4",
        "--model", str(room_node.model_dir), "--domains", "code",
    )  # fmt: skip
    assert "layer written to" in trained
    out = cli(room_node, home, "genome", "publish", str(tmp_path / "async"), "--key", str(key_file))
    assert "published python-async@1.0.0" in out and "code" in out  # the draft's fields
    out = cli(
        room_node, home, "genome", "publish", str(layers["sql"]), "--name", "sql-tuning",
        "--description", "Tunes PostgreSQL queries, indexes and query plans",
        "--domains", "code", "--key", str(key_file),
    )  # fmt: skip
    assert "published sql-tuning@1.0.0" in out
    published = cli(
        room_node, home, "genome", "publish", str(layers["zed"]), "--name", "zed-speak",
        "--description", "Answers in the zed dialect, all zzz", "--domains", "dialects,zed",
        "--key", str(key_file),
    )  # fmt: skip
    assert "zed-speak@1.0.0" in published

    found = cli(room_node, home, "genome", "search", "async python refactoring", "-k", "3")
    rows = [line for line in found.splitlines() if "@1.0.0" in line]
    assert "python-async@1.0.0" in rows[0], found
    zed = cli(room_node, home, "genome", "search", "zed dialect", "--domain", "zed")
    assert next(line for line in zed.splitlines() if "@1.0.0" in line).count("zed-speak") == 1
    # Unrelated layers are not listed by default: the floor says why nothing came back.
    nothing = cli(room_node, home, "genome", "search", "medieval tapestry weaving techniques")
    assert "no layer scores 0.2 or more" in nothing and "@1.0.0" not in nothing
    every = cli(room_node, home, "genome", "search", "medieval tapestry", "--min-score", "-1")
    assert "@1.0.0" in every

    await make_room(api, "genome-room", ["debugger-ai"])
    before = await answer_to(api, "genome-room", "How do I fix this Python KeyError?")
    assert "zzz" not in before["text"]

    shown = cli(room_node, home, "persona", "genome", "set", "debugger-ai", "zed-speak@1.0.0:1.0")
    assert "zed-speak@1.0.0:1.0" in shown
    after = await answer_to(api, "genome-room", "And what about a TypeError?")
    assert after["author_id"] == "debugger-ai" and "zzz" in after["text"], after["text"]

    async def used() -> str | None:
        out = cli(room_node, home, "genome", "show", "zed-speak")
        return out if "not used by any generation yet" not in out else None

    usage = await wait_for(used, timeout=30, every=0.5)
    assert "usage" in usage and "1.0.0" in usage
    cache = cli(room_node, home, "genome", "cache")
    assert "hot" in cache and "warm" in cache and "cold" in cache
    report = (await api.get("/v1/genome/cache")).json()
    assert report["tiers"]["hot"]["loads"] >= 1 and report["tiers"]["cold"]["loads"] >= 1
    assert any(e["layers"] == ["zed-speak"] for e in report["hot"])

    # Back to no genome: the persona answers as before, without a restart.
    cli(room_node, home, "persona", "genome", "set", "debugger-ai")
    plain = await answer_to(api, "genome-room", "How do I fix this Python KeyError?")
    assert plain["text"] == before["text"]


async def test_a_new_room_prefetches_layers_for_its_topic_and_pins_hold(
    api: httpx.AsyncClient, room_node: RoomNode
) -> None:
    await wait_for(lambda: _has(api, "python-async"))
    created = await api.post(
        "/v1/rooms", json={"id": "async-clinic", "topic": "Refactoring Python code to async/await"}
    )
    assert created.status_code == 201, created.text

    async def warmed() -> bool:
        report = (await api.get("/v1/genome/cache")).json()
        return any(e["layer"] == "python-async@1.0.0" for e in report["warm"])

    await wait_for(warmed, timeout=30)
    report = (await api.get("/v1/genome/cache")).json()
    assert report["tiers"]["warm"]["prefetches"] >= 1
    pinned = await api.put("/v1/genome/cache/pins/sql-tuning")
    assert pinned.status_code == 200 and "sql-tuning" in pinned.json()["pinned"]
    assert any(e["layer"] == "sql-tuning@1.0.0" and e["pinned"] for e in pinned.json()["warm"])
    unknown = await api.put("/v1/genome/cache/pins/no-such-layer")
    assert unknown.status_code == 404
    unpinned = await api.delete("/v1/genome/cache/pins/sql-tuning")
    assert "sql-tuning" not in unpinned.json()["pinned"]

    # "Never evicted" holds across a restart: the pin is kept, and loaded again.
    assert (await api.put("/v1/genome/cache/pins/python-async")).status_code == 200
    room_node.stop("persona-runtime")
    await room_node.restart("persona-runtime", "continuum_persona")

    async def pinned_again() -> bool:
        report = (await api.get("/v1/genome/cache")).json()
        return report["pinned"] == ["python-async"] and any(
            e["layer"] == "python-async@1.0.0" and e["pinned"] for e in report["warm"]
        )

    await wait_for(pinned_again, timeout=60)
    assert (await api.delete("/v1/genome/cache/pins/python-async")).status_code == 200


async def test_pull_fork_and_lineage(
    room_node: RoomNode, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    key_file = tmp_path / "forker.key"
    forker = SigningKey.generate()
    key_file.write_text(base64.b64encode(bytes(forker)).decode())
    key_file.chmod(0o600)
    await wait_for(lambda: _has(api, "zed-speak"))
    out = tmp_path / "pulled"
    pulled = cli(room_node, home, "genome", "pull", "zed-speak@1.0.0", "--out", str(out))
    assert "zed-speak@1.0.0 verified" in pulled
    original = (await api.get("/v1/genome/layers/zed-speak")).json()["version"]
    data = (out / "adapter_model.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == original["sha256"]
    assert json.loads((out / "continuum-layer.json").read_text())["manifest"]["name"] == "zed-speak"

    forked = cli(
        room_node, home, "genome", "fork", "zed-speak", "--name", "zed-fork", "--key", str(key_file)
    )
    assert "zed-fork@1.0.0" in forked
    fork = (await api.get("/v1/genome/layers/zed-fork")).json()["version"]
    assert fork["parents"] == ["zed-speak@1.0.0"] and fork["forked_from"] == "zed-speak@1.0.0"
    assert fork["sha256"] == original["sha256"]  # same weights, stored once
    assert fork["near_duplicates"][0]["layer"] == "zed-speak@1.0.0"
    assert fork["near_duplicates"][0]["similarity"] > 0.99
    lineage = (await api.get("/v1/genome/layers/zed-speak/lineage")).json()
    assert {"parent": "zed-speak@1.0.0", "child": "zed-fork@1.0.0"} in lineage["descendants"]
    table = cli(room_node, home, "genome", "lineage", "zed-fork")
    assert "ancestor" in table and "zed-speak@1.0.0" in table


async def _has(api: httpx.AsyncClient, layer: str) -> bool:
    return (await api.get(f"/v1/genome/layers/{layer}")).status_code == 200


async def test_bad_layers_are_refused_and_nothing_is_stored(
    api: httpx.AsyncClient, layers: dict[str, Path]
) -> None:
    config, data = read_layer(layers["sql"])
    before = await layer_ids(api)
    stored = {(await api.get(f"/v1/genome/layers/{i}")).json()["version"]["sha256"] for i in before}

    async def refused(body: dict[str, Any], blob: bytes | None, status: int, message: str) -> None:
        response = await publish(api, body, blob)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"], response.text
        sha = body["manifest"]["sha256"] if isinstance(body.get("manifest"), dict) else None
        if sha and blob is not None:
            got = await api.get(f"/v1/genome/blobs/{sha}")
            assert got.status_code == 404 or sha in stored, "refused weights were stored"

    # A pickle.
    pickled = pickle.dumps({"lora_A": [1.0, 2.0]})
    await refused(signed(config, pickled, "pickled"), pickled, 400, "pickle")
    # Shapes that do not fit the base model.
    tensors = load(data)
    name = next(n for n in tensors if n.endswith("q_proj.lora_A.weight"))
    tensors[name] = tensors[name][:, :16].copy()
    misfit = save(tensors)
    await refused(signed(config, misfit, "misfit"), misfit, 400, "needs [8, 32]")
    # A base model nobody serves.
    await refused(
        signed(config, data, "elsewhere", base_model="llama-70b"),
        data,
        400,
        "unknown base model 'llama-70b'",
    )
    # Truncated, and corrupted, safetensors.
    await refused(signed(config, data[:-64], "cut"), data[:-64], 400, "truncated")
    broken = data[:8] + b"[" + data[9:]
    await refused(signed(config, broken, "broken"), broken, 400, "not valid JSON")
    # Hash mismatch: the upload's path names other bytes; a manifest naming bytes never sent.
    response = await upload(api, data, sha="0" * 64)
    assert response.status_code == 400 and "hash mismatch" in response.text
    body = signed(config, data + b"x", "ghost")
    await refused(body, None, 400, "no weights with sha256")
    # Forged and missing signatures.
    body = signed(config, data, "forged")
    body["manifest"]["description"] = "changed after signing"
    await refused(body, data, 400, "does not verify")
    await refused({**body, "signature": ""}, data, 422, "not signed")
    await refused({"manifest": body["manifest"]}, data, 422, "signature: Field required")
    # Oversize: over the gateway's upload limit, and over the registry's.
    response = await api.put(f"/v1/genome/blobs/{'1' * 64}", content=b"x" * 1_000_001)
    assert response.status_code == 413
    big_config, big = read_layer(layers["big"])
    assert len(big) > REGISTRY_LIMIT
    await refused(signed(big_config, big, "too-big"), big, 400, f"the limit is {REGISTRY_LIMIT}")
    # Names with path components.
    manifest = LayerManifest.model_validate(signed(config, data, "fine")["manifest"])
    doc = {**manifest.model_dump(mode="json"), "name": "../etc"}
    signature = KEY.sign(canonical_bytes(doc)).signature
    body = {"manifest": doc, "signature": base64.b64encode(signature).decode()}
    await refused(body, data, 422, "manifest.name")  # the gateway's schema refuses it first

    assert await layer_ids(api) == before  # nothing became visible


async def test_versions_belong_to_their_creator(
    api: httpx.AsyncClient, layers: dict[str, Path]
) -> None:
    config, data = read_layer(layers["async"])
    first = await publish(api, signed(config, data, "owned"), data)
    assert first.status_code == 201, first.text
    again = await publish(api, signed(config, data, "owned"), data)
    assert again.status_code == 409 and "already published" in again.text
    stranger = await publish(
        api, signed(config, data, "owned", SigningKey.generate(), version="2.0.0"), data
    )
    assert stranger.status_code == 403 and "fork it" in stranger.text
    newer = await publish(
        api, signed(config, data, "owned", version="1.1.0", parents=["owned@1.0.0"]), data
    )
    assert newer.status_code == 201, newer.text
    shown = (await api.get("/v1/genome/layers/owned")).json()
    assert shown["versions"] == ["1.0.0", "1.1.0"] and shown["latest"] == "1.1.0"
    orphan = await publish(api, signed(config, data, "orphan", parents=["nope@1.0.0"]), data)
    assert orphan.status_code == 400 and "not a published layer@version" in orphan.text


async def test_bad_genomes_and_queries_are_refused(api: httpx.AsyncClient) -> None:
    for body, status, message in (
        ({"layers": ["no-such-layer"]}, 404, "unknown layer 'no-such-layer'"),
        ({"layers": ["Bad Layer!"]}, 422, "is not a layer reference"),
        ({"layers": ["owned@9.9.9"]}, 404, "has no version '9.9.9'"),
        ({"layers": ["owned"], "combination": "magic"}, 422, "combination"),
        ({"layers": "owned"}, 422, "layers"),
    ):
        response = await api.put("/v1/personas/debugger-ai/genome", json=body)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]["message"]
    persona = (await api.get("/v1/personas/debugger-ai")).json()
    assert persona["genome"] == []  # nothing half-applied
    assert (await api.get("/v1/genome/search", params={"q": ""})).status_code == 422
    assert (await api.get("/v1/genome/search", params={"q": "x", "k": 0})).status_code == 422
    assert (await api.get("/v1/genome/layers/..%2Fetc")).status_code in (404, 422)
    assert (await api.get("/v1/genome/layers/nope")).status_code == 404
    page = (await api.get("/v1/genome/layers", params={"limit": 1, "offset": 1})).json()
    assert len(page["layers"]) == 1 and page["count"] >= 3
    assert (await api.get("/v1/genome/layers", params={"limit": 5000})).status_code == 422


async def test_an_interrupted_upload_leaves_nothing_visible(
    room_node: RoomNode, api: httpx.AsyncClient, layers: dict[str, Path]
) -> None:
    config, data = read_layer(layers["zed"])
    tensors = load(data)
    first = next(iter(tensors))
    tensors[first] = tensors[first] * 0.5
    fresh = save(tensors)
    sha = hashlib.sha256(fresh).hexdigest()
    url = urlparse(room_node.url)
    with socket.create_connection((url.hostname, url.port)) as sock:
        head = (
            f"PUT /v1/genome/blobs/{sha} HTTP/1.1\r\nHost: {url.netloc}\r\n"
            f"Authorization: Bearer {room_node.admin_token}\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {len(fresh)}\r\n\r\n"
        )
        sock.sendall(head.encode() + fresh[: len(fresh) // 2])
    await asyncio.sleep(0.5)
    response = await api.post("/v1/genome/layers", json=signed(config, fresh, "half-sent"))
    assert response.status_code == 400 and "no weights with sha256" in response.text
    assert "half-sent" not in await layer_ids(api)


async def test_a_registry_restart_loses_no_layer(
    room_node: RoomNode, api: httpx.AsyncClient
) -> None:
    await wait_for(lambda: _has(api, "zed-speak"))
    before = await layer_ids(api)
    process = room_node.processes["genome-registry"]
    process.kill()  # SIGKILL: no goodbye
    process.wait()
    room_node.start(
        "genome-registry", "continuum_genome_registry", room_node.env["genome-registry"]
    )
    nc = await room_node.connect("test-restart")
    try:
        await wait_service_ready(
            nc,
            "genome-registry",
            room_node.processes["genome-registry"],
            room_node.log("genome-registry"),
            90,
        )
    finally:
        await nc.close()
    assert await layer_ids(api) == before
    found = (await api.get("/v1/genome/search", params={"q": "zed dialect", "k": 1})).json()
    assert found["results"][0]["id"] in {"zed-speak", "zed-fork"}
