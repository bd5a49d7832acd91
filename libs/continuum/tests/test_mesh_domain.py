"""The mesh's domain code, without I/O: adverts, sealing, the peer table,
routing, LAN beacons, layer questions, NATS config blocks and settings.
(tests/mesh runs all of it between real nodes.)"""

from __future__ import annotations

import base64
import json
import time

import pytest
from pydantic import ValidationError

from continuum.identity import NodeIdentity
from continuum.mesh.adverts import Advert, AdvertRefused, Offer, open_advert, sign_advert
from continuum.mesh.beacons import (
    MAX_LAN_PEERS,
    Beacon,
    BeaconRefused,
    LanPeers,
    decode_beacon,
    encode_beacon,
)
from continuum.mesh.layers import CHUNK_BYTES, ChunkAsk, SearchAsk, read_ask
from continuum.mesh.natsconf import SEED_VARIABLE, MeshLinks, leafnodes_block, mesh_account
from continuum.mesh.nkeys import user_public_key, user_seed
from continuum.mesh.peers import MAX_BAN_S, PeerStats, PeerTable
from continuum.mesh.routing import (
    NoRoute,
    decode_embedding,
    encode_embedding,
    plan,
)
from continuum.mesh.sealing import Refused, ReplayGuard, StreamCipher, open_sealed, seal
from continuum.mesh.settings import MeshConfigError, MeshSettings, check_hub_url

ME, YOU, THEM = NodeIdentity.generate(), NodeIdentity.generate(), NodeIdentity.generate()


def advert(identity: NodeIdentity, *personas: str, seq: int = 1, **fields: object) -> Advert:
    now = time.time()
    values: dict[str, object] = {
        "node": identity.node_id,
        "name": f"node-{identity.short_id}",
        "seq": seq,
        "issued_at": now,
        "expires_at": now + 15,
        "personas": [Offer(persona=p.lower().replace(" ", "-"), name=p) for p in personas],
    }
    values.update(fields)
    return Advert.model_validate(values)


# -- adverts ---------------------------------------------------------------------------


def test_a_signed_advert_opens_and_a_tampered_one_is_a_forgery() -> None:
    wire = sign_advert(advert(YOU, "Translator AI"), YOU)
    assert open_advert(wire, YOU.node_id).serves("translator ai") is not None
    tampered = json.loads(wire)
    tampered["advert"]["price"] = 0.0 if tampered["advert"]["price"] else 9.0
    with pytest.raises(AdvertRefused, match="bad signature"):
        open_advert(json.dumps(tampered).encode(), YOU.node_id)
    with pytest.raises(AdvertRefused, match="announced on node"):
        open_advert(wire, THEM.node_id)
    with pytest.raises(ValueError, match="its own advert"):
        sign_advert(advert(YOU), ME)


def test_expired_future_oversized_and_malformed_adverts_are_refused() -> None:
    old = advert(YOU, expires_at=time.time() - 1)
    with pytest.raises(AdvertRefused, match="expired"):
        open_advert(sign_advert(old, YOU), YOU.node_id)
    ahead = advert(YOU, issued_at=time.time() + 3600, expires_at=time.time() + 7200)
    with pytest.raises(AdvertRefused, match="future"):
        open_advert(sign_advert(ahead, YOU), YOU.node_id)
    with pytest.raises(AdvertRefused, match="over"):
        open_advert(b"{" + b" " * 70_000 + b"}", YOU.node_id)
    with pytest.raises(AdvertRefused, match="malformed"):
        open_advert(b'{"advert": {"node": 1}, "signature": "x"}', YOU.node_id)


def test_the_table_refuses_replays_and_tells_changes_from_refreshes() -> None:
    table = PeerTable()
    now = time.time()
    assert table.offer(advert(YOU, "A AI", seq=5), now)  # new peer
    assert not table.offer(advert(YOU, "A AI", seq=6, queue_depth=3), now)  # same offer
    assert table.offer(advert(YOU, "A AI", "B AI", seq=7), now)  # a new persona
    with pytest.raises(AdvertRefused, match="replayed"):
        table.offer(advert(YOU, "A AI", seq=6), now)
    assert table.expire(now + 60) == [YOU.node_id] and table.peers(now + 60) == []


def test_bans_double_up_to_a_limit_and_reputation_is_a_lower_bound() -> None:
    stats = PeerStats()
    assert stats.reputation == 0.5  # no record: neither trusted nor shunned
    bans = [stats.failed(0.0, 5.0, "gone") for _ in range(10)]
    assert bans[:4] == [5.0, 10.0, 20.0, 40.0] and max(bans) == MAX_BAN_S
    assert stats.banned(1.0) and not stats.banned(MAX_BAN_S + 1)
    stats.succeeded()
    assert stats.ban_s == 0 and not stats.banned(0.0)
    good = PeerStats(successes=100)
    assert 0.95 < good.reputation < 1.0 and PeerStats(successes=2).reputation < 0.5


# -- routing ---------------------------------------------------------------------------


def test_the_route_ranks_by_score_and_skips_banned_nodes() -> None:
    table = PeerTable()
    now = time.time()
    table.offer(advert(YOU, "Twin AI", queue_depth=0), now)
    table.offer(advert(THEM, "Twin AI", queue_depth=9), now)
    for node in (YOU, THEM):
        table.stats_of(node.node_id).observe_rtt(5.0)
    route = plan(table, advert(ME), persona="Twin AI", scope="global", now=now)
    assert [c.node for c in route.candidates] == [YOU.node_id, THEM.node_id]
    table.stats_of(YOU.node_id).failed(now, 5.0, "silent")
    route = plan(table, advert(ME), persona="Twin AI", scope="global", now=now)
    assert [c.node for c in route.candidates] == [THEM.node_id]
    assert "banned" in route.why()[-1]["excluded"]
    named = plan(table, advert(ME), persona="Twin AI", scope=THEM.node_id[:8], now=now)
    assert [c.node for c in named.candidates] == [THEM.node_id]
    with pytest.raises(NoRoute, match="no node 'nowhere'"):
        plan(table, advert(ME), persona="Twin AI", scope="nowhere", now=now)
    with pytest.raises(NoRoute, match="this node serves"):
        plan(table, advert(ME), persona="Twin AI", scope="local", now=now)


def test_capability_routing_follows_the_prompt_embedding() -> None:
    now = time.time()
    table = PeerTable()
    poet = Offer(persona="poet", name="Poet", embedding=encode_embedding([1.0, 0.0, 0.0]))
    coder = Offer(persona="coder", name="Coder", embedding=encode_embedding([0.0, 1.0, 0.0]))
    table.offer(advert(YOU).model_copy(update={"personas": [poet]}), now)
    table.offer(advert(THEM).model_copy(update={"personas": [coder]}), now)
    vector = decode_embedding(encode_embedding([0.1, 0.9, 0.0]))
    assert vector is not None  # float16, normalised to unit length
    assert abs(vector[1] / vector[0] - 9.0) < 0.02 and abs(sum(v * v for v in vector) - 1) < 1e-3
    route = plan(table, advert(ME), persona=None, scope="global", now=now, prompt_vector=vector)
    assert route.candidates[0].offer.persona == "coder"


# -- sealing ---------------------------------------------------------------------------


def test_a_sealed_request_opens_only_for_its_recipient_and_only_once() -> None:
    guard = ReplayGuard()
    secret = {"prompt": "a private question about the quarterly numbers"}
    sealed = seal(secret, ME, YOU.node_id)
    assert b"quarterly numbers" not in sealed  # (a short word could occur in base64 by chance)
    assert open_sealed(sealed, YOU, guard) == (ME.node_id, secret)
    with pytest.raises(Refused, match="nonce seen"):
        open_sealed(sealed, YOU, guard)
    with pytest.raises(Refused, match="not this one"):
        open_sealed(seal({"x": 1}, ME, YOU.node_id), THEM, ReplayGuard())
    old = seal({"x": 1}, ME, YOU.node_id, now=time.time() - 3600)
    with pytest.raises(Refused, match="replayed or delayed"):
        open_sealed(old, YOU, ReplayGuard())
    forged = json.loads(seal({"x": 1}, ME, YOU.node_id))
    forged["sender"] = THEM.node_id
    with pytest.raises(Refused, match="bad signature"):
        open_sealed(json.dumps(forged).encode(), YOU, ReplayGuard())


def test_the_answer_stream_refuses_dropped_repeated_and_foreign_frames() -> None:
    key = StreamCipher.new_key()
    sender, receiver = StreamCipher(key), StreamCipher(key)
    first, second = sender.seal({"kind": "piece"}), sender.seal({"kind": "done"})
    assert receiver.open(first)["n"] == 0
    with pytest.raises(Refused, match="out of order"):
        receiver.open(first)
    assert receiver.open(second)["kind"] == "done"
    with pytest.raises(Refused, match="does not decrypt"):
        receiver.open(StreamCipher(StreamCipher.new_key()).seal({"kind": "piece"}))


# -- LAN beacons -----------------------------------------------------------------------


def test_beacons_are_signed_fresh_and_forget_the_silent() -> None:
    now = time.time()
    wire = encode_beacon(Beacon(node=YOU.node_id, name="you", issued_at=now), YOU)
    assert decode_beacon(wire, now).name == "you"
    forged = json.loads(wire)
    forged["beacon"]["node"] = THEM.node_id
    with pytest.raises(BeaconRefused, match="forged"):
        decode_beacon(json.dumps(forged).encode(), now)
    with pytest.raises(BeaconRefused, match="stale"):
        decode_beacon(wire, now + 120)
    with pytest.raises(BeaconRefused, match="over"):
        decode_beacon(b"x" * 2000, now)
    with pytest.raises(BeaconRefused, match="malformed"):
        decode_beacon(b"not json", now)
    peers = LanPeers()
    beacon = decode_beacon(wire, now)
    assert peers.hear(beacon, now) and not peers.hear(beacon, now + 1)
    assert peers.near(now + 2) and not peers.near(now + 5)
    for i in range(MAX_LAN_PEERS + 10):  # a flood of fresh identities stays bounded
        peers.hear(Beacon(node=NodeIdentity.generate().node_id, issued_at=now), now + i / 1e3)
    assert len(peers.heard) == MAX_LAN_PEERS


# -- layer questions -------------------------------------------------------------------


def test_layer_questions_are_checked_field_by_field() -> None:
    assert isinstance(read_ask({"op": "search", "query": "sql"}), SearchAsk)
    chunk = read_ask({"op": "chunk", "sha256": "a" * 64, "offset": 0})
    assert isinstance(chunk, ChunkAsk) and chunk.length == CHUNK_BYTES
    with pytest.raises(Refused, match="length"):
        read_ask({"op": "chunk", "sha256": "a" * 64, "offset": 0, "length": CHUNK_BYTES + 1})
    with pytest.raises(Refused, match="layer"):
        read_ask({"op": "manifest", "layer": "../etc"})
    with pytest.raises(Refused, match="malformed layer request"):
        read_ask({"op": "delete", "layer": "x"})


# -- NATS config and settings ----------------------------------------------------------


def test_leaf_links_name_the_seed_or_carry_it_for_a_container() -> None:
    links = MeshLinks(listen="0.0.0.0:7422", hubs=("nats-leaf://hub:7422",))
    env_block = leafnodes_block(links)
    assert f"nkey: ${SEED_VARIABLE}" in env_block and 'listen: "0.0.0.0:7422"' in env_block
    seed = user_seed(ME.signing_key)
    assert seed.startswith("SU") and f'nkey: "{seed}"' in leafnodes_block(links, seed=seed)
    assert "account: MESH" in env_block and "remotes = []" in leafnodes_block(MeshLinks())
    account = mesh_account("CONTINUUM_NATS_PASSWORD_MESH", [YOU.node_id])
    public = user_public_key(YOU.node_id)
    assert public.startswith("U") and len(public) == 56 and public in account
    assert '"mesh.>"' in account and public != user_public_key(THEM.node_id)


def test_hub_urls_and_lan_settings_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_hub_url(" nats-leaf://hub.example ") == "nats-leaf://hub.example:7422"
    for bad in ("http://hub:7422", "nats-leaf://", "nats-leaf://u:p@hub:1", "nats-leaf://h:99999"):
        with pytest.raises(MeshConfigError):
            check_hub_url(bad)
    monkeypatch.setenv("CONTINUUM_MESH_LAN_GROUP", "10.0.0.1")
    with pytest.raises(ValidationError, match="not a multicast group"):
        MeshSettings()
    monkeypatch.setenv("CONTINUUM_MESH_LAN_GROUP", "239.1.2.3")
    monkeypatch.setenv("CONTINUUM_MESH_LAN_INTERFACE", "eth0")
    with pytest.raises(ValidationError, match="interface"):
        MeshSettings()


def test_an_embedding_that_is_not_one_decodes_to_none() -> None:
    assert decode_embedding("") is None
    assert decode_embedding(base64.b64encode(b"\x00").decode()) is None
