"""A hub and two leaves on loopback, each a real node: discovery, routing,
end-to-end sealing, refusals, loops, partition and heal, and failover."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
from typing import Any

import pytest
from mesh_harness import MESH_ENV, Mesh, MeshNode, wait_for

from continuum.identity import NodeIdentity
from continuum.mesh.adverts import Advert
from continuum.mesh.beacons import Beacon, encode_beacon
from continuum.runtime.requests import ServiceRequestError

pytestmark = pytest.mark.slow

TRANSLATOR = {
    "name": "Translator AI",
    "role": "translates text between languages",
    "domains": ["translation", "languages", "mandarin"],
}
FAR = {"name": "Far AI", "role": "answers from far away", "domains": ["distance"]}
TWIN = {"name": "Twin AI", "role": "writes long stories", "domains": ["stories"]}


async def _sees(node: MeshNode, others: list[MeshNode], persona: str | None = None) -> bool:
    peers = {p["node"]: p for p in (await node.peers())["peers"]}
    for other in others:
        peer = peers.get(other.node_id)
        if peer is None or (persona and persona not in peer["personas"]):
            return False
    return True


async def test_nodes_discover_each_other_through_the_hub(mesh: Mesh) -> None:
    await mesh.b.ask("persona-runtime.create", TRANSLATOR)
    for node in mesh.nodes:
        others = [n for n in mesh.nodes if n is not node]
        await wait_for(lambda node=node, others=others: _sees(node, others), timeout=30)
    await wait_for(lambda: _sees(mesh.a, [mesh.b], "Translator AI"), timeout=30)

    async def measured() -> bool:
        peers = (await mesh.a.peers())["peers"]
        return all(p["rtt_ms"] is not None for p in peers)

    await wait_for(measured, timeout=30)
    peers = {p["node"]: p for p in (await mesh.a.peers())["peers"]}
    b = peers[mesh.b.node_id]
    assert b["name"] == "leaf-b" and b["price"] == 0.0 and b["hardware"]["cpus"] >= 1
    assert b["leaf_urls"] == [mesh.b.leaf_url] and b["hubs"] == [mesh.hub.leaf_url]
    assert 0 < b["rtt_ms"] < 1000 and b["last_seen_s"] < 5


async def test_lan_beacons_propose_peers_and_scope_lan_routes(mesh: Mesh) -> None:
    """Every node beacons on the mesh's own group port (on loopback); a forged
    beacon (a node id signed by another key) proposes nobody."""
    forger = NodeIdentity.generate()
    fake = Beacon(node=NodeIdentity.generate().node_id, name="fake", issued_at=time.time())
    wire = json.loads(encode_beacon(fake.model_copy(update={"node": forger.node_id}), forger))
    wire["beacon"]["node"] = fake.node
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton("127.0.0.1"))
    group = ("239.255.77.77", int(MESH_ENV["CONTINUUM_MESH_LAN_PORT"]))

    async def near() -> bool:
        sender.sendto(json.dumps(wire).encode(), group)
        heard = {p["node"]: p for p in (await mesh.a.peers())["lan"]}
        return {mesh.hub.node_id, mesh.b.node_id} <= set(heard)

    await wait_for(near, timeout=30)
    sender.close()
    seen = await mesh.a.peers()
    heard = {p["node"]: p for p in seen["lan"]}
    assert fake.node not in heard and mesh.a.node_id not in heard
    assert heard[mesh.hub.node_id]["hub_url"] == mesh.hub.leaf_url
    assert heard[mesh.b.node_id]["linked"] and heard[mesh.b.node_id]["heard_s"] < 2.5
    assert all(p["lan"] for p in seen["peers"])
    await wait_for(lambda: _sees(mesh.a, [mesh.b], "Translator AI"), timeout=30)
    result, _ = await mesh.a.generate(
        prompt="hello", persona="Translator AI", mesh="lan", max_tokens=4
    )
    assert result["node"] == mesh.b.node_id


async def test_a_hub_of_hubs_carries_adverts_and_requests_two_tiers_down(mesh: Mesh) -> None:
    """Leaf C joined leaf B (a hub that is itself a leaf of the hub): C sees
    A, two hubs away, and a generation from C reaches B's persona over one
    link and A's over three."""
    assert mesh.c is not None
    await mesh.a.ask("persona-runtime.create", FAR)
    await wait_for(lambda: _sees(mesh.c, [mesh.a], "Far AI"), timeout=30)
    await wait_for(lambda: _sees(mesh.c, [mesh.b], "Translator AI"), timeout=30)
    far, _ = await mesh.c.generate(prompt="hi", persona="Far AI", mesh="global", max_tokens=4)
    assert far["status"] == "complete" and far["node"] == mesh.a.node_id
    near, _ = await mesh.c.generate(
        prompt="hi", persona="Translator AI", mesh="global", max_tokens=4
    )
    assert near["node"] == mesh.b.node_id

    async def far_rtt() -> float | None:
        peers = {p["node"]: p for p in (await mesh.c.peers())["peers"]}
        rtt: float | None = peers[mesh.a.node_id]["rtt_ms"]
        return rtt

    assert 0 < await wait_for(far_rtt, timeout=30) < 1000  # pings cross three links


async def test_a_generation_goes_to_the_only_node_that_serves_the_persona(mesh: Mesh) -> None:
    await wait_for(lambda: _sees(mesh.a, [mesh.b], "Translator AI"), timeout=30)
    result, frames = await mesh.a.generate(
        prompt="Translate to Mandarin: hello", persona="Translator AI", mesh="global", max_tokens=12
    )
    assert result["status"] == "complete", result
    assert result["node"] == mesh.b.node_id and result["moved"] == 0
    pieces = "".join(f["text"] for f in frames if f["kind"] == "piece")
    assert pieces.strip() == result["text"] and result["tokens"] > 0
    assert frames[0]["kind"] == "route"
    assert [c["node"] for c in frames[0]["candidates"]] == [mesh.b.node_id]
    # By the node's name, the same; and not on this node alone.
    named, _ = await mesh.a.generate(
        prompt="hello", persona="Translator AI", mesh="leaf-b", max_tokens=4
    )
    assert named["node"] == mesh.b.node_id
    with pytest.raises(
        ServiceRequestError, match="no node in this node serves persona 'Translator AI'"
    ):
        await mesh.a.generate(prompt="hello", persona="Translator AI", mesh="local")
    with pytest.raises(ServiceRequestError, match="no node 'nowhere' in the mesh"):
        await mesh.a.generate(prompt="hello", persona="Translator AI", mesh="nowhere")


async def test_the_mesh_over_http(mesh: Mesh) -> None:
    """GET /v1/mesh/peers and POST /v1/ai/generate, as JSON and as SSE."""
    await wait_for(lambda: _sees(mesh.a, [mesh.b], "Translator AI"), timeout=30)
    async with await mesh.a.http() as http:
        peers = (await http.get("/v1/mesh/peers")).json()
        assert {p["node"] for p in peers["peers"]} == {n.node_id for n in mesh.nodes} - {
            mesh.a.node_id
        }
        body = {"prompt": "hello", "persona": "Translator AI", "mesh": "global", "max_tokens": 6}
        done = await http.post("/v1/ai/generate", json=body)
        assert done.status_code == 200, done.text
        assert done.json()["node"] == mesh.b.node_id and done.json()["status"] == "complete"
        frames = []
        async with http.stream("POST", "/v1/ai/generate", json={**body, "stream": True}) as sse:
            assert sse.headers["content-type"].startswith("text/event-stream")
            async for line in sse.aiter_lines():
                if line.startswith("data: "):
                    frames.append(json.loads(line[6:]))
        kinds = [f["kind"] for f in frames]
        assert kinds[0] == "route" and kinds[-1] == "done" and "piece" in kinds
        text = "".join(f["text"] for f in frames if f["kind"] == "piece")
        assert frames[-1]["text"] == text.strip() and frames[-1]["node"] == mesh.b.node_id
        nowhere = await http.post("/v1/ai/generate", json={**body, "mesh": "nowhere"})
        assert nowhere.status_code == 404 and "no node 'nowhere'" in nowhere.text
        sse_only = {"Accept": "text/event-stream"}
        streamed_nowhere = await http.post(
            "/v1/ai/generate", json={**body, "mesh": "nowhere"}, headers=sse_only
        )
        assert streamed_nowhere.status_code == 404
        bad = await http.post("/v1/ai/generate", json={**body, "max_tokens": True})
        assert bad.status_code == 422 and "max_tokens" in bad.text


async def test_the_hub_relays_only_ciphertext(mesh: Mesh) -> None:
    seen: list[tuple[str, bytes]] = []
    tap = await mesh.hub.connect_mesh()

    async def capture(msg: Any) -> None:
        seen.append((msg.subject, msg.data))

    await tap.subscribe("mesh.>", cb=capture)
    await tap.flush()
    secret = "the launch code is pelican-42"
    try:
        result, _ = await mesh.a.generate(
            prompt=secret, persona="Translator AI", mesh="leaf-b", max_tokens=12
        )
        await asyncio.sleep(0.3)
    finally:
        await tap.close()
    assert result["status"] == "complete" and result["text"]
    requests = [d for s, d in seen if s == f"mesh.node.{mesh.b.node_id}.generate"]
    assert requests, "the request crossed the hub"
    everything = b"".join(d for _, d in seen)
    assert b"pelican" not in everything and b"launch code" not in everything
    # Adverts are public (persona names a tiny model may well say): the
    # request and answer streams are what must not carry the answer's words.
    private = b"".join(d for s, d in seen if not s.startswith("mesh.advert."))
    words = [w for w in result["text"].split() if len(w) > 4]
    assert all(w.encode() not in private for w in words), "the answer crossed in clear"


async def test_forged_and_replayed_adverts_are_refused(mesh: Mesh) -> None:
    genuine: list[bytes] = []
    tap = await mesh.hub.connect_mesh()

    async def capture(msg: Any) -> None:
        genuine.append(msg.data)

    await tap.subscribe(f"mesh.advert.{mesh.b.node_id}", cb=capture)
    await wait_for(lambda: len(genuine) >= 2, timeout=10)
    # An advert for leaf B signed by another key: refused, B's own advert kept.
    now = time.time()
    forged = Advert(
        node=mesh.b.node_id,
        name="leaf-b",
        seq=int(now * 1000) + 10**9,
        issued_at=now,
        expires_at=now + 60,
        price=0,
    )
    signature = base64.b64encode(mesh.rogue.sign(forged.signed_bytes())).decode()
    wire = {"advert": forged.model_dump(mode="json"), "signature": signature}
    await tap.publish(f"mesh.advert.{mesh.b.node_id}", json.dumps(wire).encode())
    # B's first advert again, after newer ones: a replay.
    await tap.publish(f"mesh.advert.{mesh.b.node_id}", genuine[0])
    await tap.flush()
    await tap.close()

    async def refused() -> list[str] | None:
        reasons = [r["reason"] for r in (await mesh.a.peers())["refused"]]
        forged = any("forged" in r for r in reasons)
        return reasons if forged and any("replayed advert" in r for r in reasons) else None

    reasons = await wait_for(refused, timeout=10)
    assert any("bad signature (forged)" in r for r in reasons), reasons
    assert any("replayed advert" in r for r in reasons), reasons
    assert await _sees(mesh.a, [mesh.b], "Translator AI")


async def test_a_replayed_request_is_refused(mesh: Mesh) -> None:
    captured: list[bytes] = []
    tap = await mesh.hub.connect_mesh()

    async def capture(msg: Any) -> None:
        captured.append(msg.data)

    await tap.subscribe(f"mesh.node.{mesh.b.node_id}.generate", cb=capture)
    await tap.flush()
    result, _ = await mesh.a.generate(
        prompt="hello", persona="Translator AI", mesh="leaf-b", max_tokens=4
    )
    assert result["status"] == "complete" and captured
    reply = await tap.request(f"mesh.node.{mesh.b.node_id}.generate", captured[0], timeout=5)
    await tap.close()
    assert "nonce seen before" in json.loads(reply.data)["refused"]
    b_refusals = [r["reason"] for r in (await mesh.b.peers())["refused"]]
    assert any("nonce seen before" in r for r in b_refusals)


async def test_a_leaf_cannot_publish_into_another_nodes_log(mesh: Mesh, tmp_path: Any) -> None:
    """A rogue node the hub admits, its leaf link bound to its own global
    account (not MESH): what it publishes on evt.* never reaches the hub's."""
    rogue = _rogue_leaf(mesh, tmp_path)
    rogue.start()
    hub = await mesh.hub.connect("node")
    got: list[str] = []

    async def capture(msg: Any) -> None:
        if b"forged" in msg.data:  # the hub's own processes talk on cmd.* meanwhile
            got.append(msg.subject)

    try:
        await hub.subscribe("evt.>", cb=capture)
        await hub.subscribe("cmd.>", cb=capture)
        js = hub.jetstream()
        before = (await js.stream_info("EVT_CHAT")).state.messages
        import nats

        client = await nats.connect(rogue.url)
        await asyncio.sleep(1.0)  # the link is up
        for subject in ("evt.chat.room.r1", "cmd.persona-runtime.create", "ingress.x"):
            await client.publish(subject, b'{"forged": true}')
        await client.flush()
        await client.close()
        await asyncio.sleep(1.0)
        assert got == []
        assert (await js.stream_info("EVT_CHAT")).state.messages == before
        assert "Leafnode connection created" in rogue.log_path.read_text()
    finally:
        await hub.close()
        rogue.stop()


async def test_a_lying_peer_cannot_plant_a_layer(mesh: Mesh, tmp_path: Any) -> None:
    """A rogue peer (admitted, announcing a signed advert) answers layer
    questions with a tampered manifest and with weights that are not what
    its manifest names: leaf A's gateway refuses both, naming why."""
    import nats

    from continuum.genome import build_manifest
    from continuum.mesh.adverts import sign_advert
    from continuum.mesh.sealing import ReplayGuard, open_sealed, seal
    from continuum.mesh.subjects import advert_subject, layers_subject
    from continuum_persona.testing.layers import train_test_layer

    layer = train_test_layer(mesh.a.model_dir, tmp_path / "evil", "evil " * 8, steps=1)
    config = json.loads((layer / "adapter_config.json").read_text())
    weights = (layer / "adapter_model.safetensors").read_bytes()
    manifest, signature = build_manifest(
        config, weights, {"description": "harmful"}, mesh.rogue.signing_key, name="evil"
    )
    tampered = {**manifest.model_dump(mode="json"), "description": "now harmless"}
    rogue = _rogue_leaf(mesh, tmp_path)
    rogue.start()
    guard = ReplayGuard()
    client = await nats.connect(rogue.url)

    async def answer(msg: Any) -> None:
        sender, ask = open_sealed(msg.data, mesh.rogue, guard)
        if ask["op"] == "manifest":
            body: dict[str, Any] = {"manifest": tampered, "signature": signature}
        else:  # weights of the right size that are not the signed ones
            body = {"size": len(weights), "data": base64.b64encode(b"\0" * len(weights)).decode()}
        await msg.respond(seal(body, mesh.rogue, sender))

    async def announce() -> None:
        while True:
            now = time.time()
            advert = Advert(
                node=mesh.rogue.node_id,
                name="liar",
                seq=int(now * 1000),
                issued_at=now,
                expires_at=now + 10,
            )
            await client.publish(
                advert_subject(mesh.rogue.node_id), sign_advert(advert, mesh.rogue)
            )
            await asyncio.sleep(0.5)

    await client.subscribe(layers_subject(mesh.rogue.node_id), cb=answer)
    announcing = asyncio.create_task(announce())
    try:
        await wait_for(lambda: _named(mesh.a, "liar"), timeout=30)
        async with await mesh.a.http() as http:
            forged = await http.get("/v1/mesh/nodes/liar/layers/evil/manifest")
            assert forged.status_code == 503 and "does not verify" in forged.text, forged.text
            swapped = await http.get(f"/v1/mesh/nodes/liar/blobs/{manifest.sha256}")
            assert swapped.status_code == 503 and "hash mismatch" in swapped.text, swapped.text
            nowhere = await http.get("/v1/mesh/nodes/nowhere/layers/evil/manifest")
            assert nowhere.status_code == 404 and "no node 'nowhere'" in nowhere.text
    finally:
        announcing.cancel()
        await client.close()
        rogue.stop()


async def _named(node: MeshNode, name: str) -> bool:
    return name in {p["name"] for p in (await node.peers())["peers"]}


def _rogue_leaf(mesh: Mesh, tmp_path: Any) -> Any:
    """A nats-server the hub admits (the spare identity), its link bound to
    its own global account rather than MESH."""
    from continuum.mesh.natsconf import SEED_VARIABLE
    from continuum.mesh.nkeys import user_seed
    from continuum.node.embedded import NatsServer
    from continuum.node.ports import free_port

    return NatsServer(
        tmp_path / "rogue",
        port=free_port(),
        server_name="rogue",
        environment={SEED_VARIABLE: user_seed(mesh.rogue.signing_key)},
        leafnodes=(
            'leafnodes {\n  reconnect: "1s"\n  remotes = [\n'
            f'    {{urls: ["{mesh.hub.leaf_url}"], nkey: ${SEED_VARIABLE}}}\n  ]\n}}\n'
        ),
    )


async def test_a_join_that_would_close_a_loop_is_refused(mesh: Mesh) -> None:
    """Leaf A already reaches B (a hub too) through the hub: joining B would
    close a loop."""
    reply = await mesh.a.ask("gateway.mesh.check-join", {"url": mesh.b.leaf_url})
    assert reply["ok"] is False and "loop" in reply["reason"] and "leaf-b" in reply["reason"]
    fine = await mesh.a.ask("gateway.mesh.check-join", {"url": "nats-leaf://127.0.0.1:1"})
    assert fine["ok"] is True


async def test_partition_and_heal(mesh: Mesh) -> None:
    """The hub's NATS dies: each leaf keeps working alone, a request that
    needs the other leaf fails fast; the hub comes back and the adverts
    converge with no restart of any node."""
    mesh.hub.nats.kill()
    try:
        local, _ = await mesh.a.generate(
            prompt="hello", mesh="local", persona="Helper AI", max_tokens=4
        )
        assert local["status"] == "complete"
        started = time.monotonic()
        try:
            result, _ = await mesh.a.generate(
                prompt="hello", persona="Translator AI", mesh="leaf-b", max_tokens=4
            )
        except ServiceRequestError as exc:  # B's advert expired already
            refusal = str(exc)
            assert "no node" in refusal
        else:
            assert result["status"] == "failed" and "unreachable" in result["error"]
        assert time.monotonic() - started < 3.0
    finally:
        mesh.hub.nats.start()
    await wait_for(lambda: _sees(mesh.a, [mesh.hub]), timeout=30)
    await wait_for(lambda: _sees(mesh.a, [mesh.b], "Translator AI"), timeout=30)
    await asyncio.sleep(1.5)  # a ban from the partition runs out
    healed, _ = await mesh.a.generate(
        prompt="hello", persona="Translator AI", mesh="leaf-b", max_tokens=4
    )
    assert healed["status"] == "complete"


async def test_killing_the_serving_node_mid_stream_moves_the_answer(mesh: Mesh) -> None:
    """kill -9 of the node generating: the answer continues on the other node
    that serves the persona, from the text already streamed."""
    await mesh.a.ask("persona-runtime.create", TWIN)
    await mesh.b.ask("persona-runtime.create", TWIN)
    await wait_for(lambda: _sees(mesh.hub, [mesh.a, mesh.b], "Twin AI"), timeout=30)
    nc = await mesh.hub.connect()
    frames: list[tuple[float, dict[str, Any]]] = []
    killed: list[float] = []
    by_id = {n.node_id: n for n in (mesh.a, mesh.b)}

    async def got(msg: Any) -> None:
        frame = json.loads(msg.data)
        frames.append((time.monotonic(), frame))
        if frame["kind"] == "piece" and not killed:
            serving = next(f for _, f in frames if f["kind"] == "route")["candidates"][0]["node"]
            by_id[serving].kill()
            killed.append(time.monotonic())

    from continuum.runtime.requests import request_json

    inbox = nc.new_inbox()
    await nc.subscribe(inbox, cb=got)
    try:
        result = await request_json(
            nc,
            "cmd.gateway.mesh.generate",
            {
                "prompt": "Tell a long story",
                "persona": "Twin AI",
                "mesh": "global",
                "max_tokens": 120,
                "stream": inbox,
            },
            timeout=120,
        )
        await asyncio.sleep(0.1)
    finally:
        await nc.close()
    assert killed and result["status"] == "complete", result
    assert result["moved"] == 1 and result["route"][0]["outcome"] == "failed"
    moved = [f for _, f in frames if f["kind"] == "moved"]
    assert len(moved) == 1 and moved[0]["after_chars"] > 0
    at = next(i for i, (_, f) in enumerate(frames) if f["kind"] == "moved")
    resumed = next(t for t, f in frames[at:] if f["kind"] == "piece")
    print(f"failover: {1000 * (resumed - killed[0]):.0f} ms from kill -9 to the next token")
    pieces = "".join(f["text"] for _, f in frames if f["kind"] == "piece")
    assert pieces.strip() == result["text"]
