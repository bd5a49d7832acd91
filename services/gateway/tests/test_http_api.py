"""The gateway's HTTP API through real HTTP, against a running gateway process
with real NATS and PostgreSQL: auth, every CloudEvents mode, batches, the
event stream (SSE and WebSocket, with resume), limits and bad input."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from gateway_harness import DEDUPE_WINDOW_S, RATE_LIMIT, GatewayNode
from httpx_ws import aconnect_ws
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from continuum.api_tokens import hash_token
from continuum.events.envelope import Envelope
from continuum.identity import NodeIdentity
from continuum.ids import uuid7_str

ANNOTATION = "continuum.mesh.annotation.added.v1"
STRUCTURED = {"Content-Type": "application/cloudevents+json"}
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


def event(subject: str = "gw-test", text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": uuid7_str(),
        "source": "/tests/http",
        "type": ANNOTATION,
        "subject": subject,
        "data": {"text": text},
        **extra,
    }


async def mesh_last_seq(nc: Client) -> int:
    return int((await nc.jetstream().stream_info("EVT_MESH")).state.last_seq)


def assert_json_error(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    message: str = response.json()["error"]["message"]
    for word in words:
        assert word in message, message
    return message


# --- auth ---------------------------------------------------------------------------------


async def test_health_needs_no_token_and_everything_else_does(gateway_node: GatewayNode) -> None:
    async with httpx.AsyncClient(base_url=gateway_node.url) as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        ready = await anonymous.get("/readyz")
        assert ready.status_code == 200 and ready.json()["postgres"] and ready.json()["nats"]
        for method, path in [
            ("GET", "/v1/events"),
            ("POST", "/v1/events"),
            ("GET", "/v1/events/stream"),
            ("GET", "/v1/services"),
            ("GET", "/v1/tokens"),
            ("GET", "/openapi.json"),
            ("GET", "/asyncapi.json"),
        ]:
            response = await anonymous.request(method, path)
            assert_json_error(response, 401, "token")
            assert response.headers["www-authenticate"] == "Bearer"
        wrong = await anonymous.get("/v1/events", headers={"Authorization": "Bearer ctm_nope"})
        assert_json_error(wrong, 401, "invalid or revoked")
        basic = await anonymous.get("/v1/events", headers={"Authorization": "Basic dTpw"})
        assert_json_error(basic, 401, "Bearer")


async def test_scopes_and_revocation(api: httpx.AsyncClient, gateway_node: GatewayNode) -> None:
    created = await api.post("/v1/tokens", json={"name": "reader", "scopes": ["read"]})
    assert created.status_code == 201
    reader = created.json()
    assert reader["token"].startswith("ctm_") and reader["scopes"] == ["read"]
    listed = (await api.get("/v1/tokens")).json()["tokens"]
    assert reader["id"] in {t["id"] for t in listed}
    assert all("token" not in t and "hash" not in t for t in listed)
    async with gateway_node.client(reader["token"]) as client:
        assert (await client.get("/v1/events")).status_code == 200
        denied = await client.post("/v1/events", json=event(), headers=STRUCTURED)
        assert_json_error(denied, 403, "publish")
        assert_json_error(await client.get("/v1/tokens"), 403, "admin")
        assert (await api.delete(f"/v1/tokens/{reader['id']}")).json()["revoked_at"]
        assert_json_error(await client.get("/v1/events"), 401, "revoked")


async def test_token_requests_are_validated(api: httpx.AsyncClient) -> None:
    assert_json_error(
        await api.post("/v1/tokens", json={"name": "x", "scopes": ["root"]}), 422, "scopes"
    )
    assert_json_error(await api.post("/v1/tokens", json={"name": "x"}), 422, "scopes")
    bad_name = await api.post(
        "/v1/tokens", json={"name": "a'; DROP TABLE x;--", "scopes": ["read"]}
    )
    assert_json_error(bad_name, 422, "name")
    traversal = await api.delete("/v1/tokens/..%2F..%2Fetc%2Fpasswd")
    assert_json_error(traversal, traversal.status_code)  # 404: no such route
    assert traversal.status_code == 404
    assert_json_error(await api.delete("/v1/tokens/..%2E%2E"), 422, "token_id")
    assert_json_error(await api.delete("/v1/tokens/' OR 1=1 --"), 422, "token_id")
    assert_json_error(await api.delete(f"/v1/tokens/{uuid7_str()}"), 404)


# --- publishing ---------------------------------------------------------------------------


async def test_structured_event_is_appended_with_its_sequence(
    api: httpx.AsyncClient, gw_nc: Client
) -> None:
    sent = event(text="structured")
    response = await api.post("/v1/events", content=json.dumps(sent), headers=STRUCTURED)
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["status"] == "accepted" and result["id"] == sent["id"]
    assert result["stream"] == "EVT_MESH" and result["seq"] == await mesh_last_seq(gw_nc)
    stored = await gw_nc.jetstream().get_msg("EVT_MESH", result["seq"])
    envelope = Envelope.model_validate_json(stored.data or b"")
    envelope.verify()  # signed by the node, vouching for the token that handed it in
    assert envelope.data["text"] == "structured"
    assert str(envelope.model_extra and envelope.model_extra["publisher"]).startswith("token:")


async def test_retried_event_is_stored_once(api: httpx.AsyncClient, gw_nc: Client) -> None:
    sent = json.dumps(event(text="retry"))
    first = (await api.post("/v1/events", content=sent, headers=STRUCTURED)).json()["results"][0]
    before = await mesh_last_seq(gw_nc)
    again = (await api.post("/v1/events", content=sent, headers=STRUCTURED)).json()["results"][0]
    assert again["duplicate"] is True and again["seq"] == first["seq"]
    assert await mesh_last_seq(gw_nc) == before


async def test_a_re_sent_id_is_stored_once_past_the_dedupe_window(
    api: httpx.AsyncClient, gw_nc: Client
) -> None:
    """JetStream forgets a Nats-Msg-Id after its window (2 minutes by default,
    2 s here); the event-log index remembers it for as long as the event is
    in the log, over HTTP (structured and batched) and over NATS ingress."""
    batch = [event(subject=f"late{i}", text=f"late {i}") for i in range(20)]
    batch[7]["id"] = batch[7]["id"].upper()  # the same id in any case is the same event
    first = (await api.post("/v1/events", content=json.dumps(batch), headers=BATCH)).json()
    seqs = [r["seq"] for r in first["results"]]
    for sent in batch:  # indexed by the event-log projection
        await wait_for_event(api, sent["subject"])
    await asyncio.sleep(DEDUPE_WINDOW_S + 1.0)
    before = await mesh_last_seq(gw_nc)

    again = (await api.post("/v1/events", content=json.dumps(batch), headers=BATCH)).json()
    assert [r["duplicate"] for r in again["results"]] == [True] * 20
    assert [r["seq"] for r in again["results"]] == seqs
    one = await api.post("/v1/events", content=json.dumps(batch[3]), headers=STRUCTURED)
    assert one.json()["results"][0] == {**again["results"][3], "index": 0}
    lower = {**batch[7], "id": batch[7]["id"].lower()}
    seven = await api.post("/v1/events", content=json.dumps(lower), headers=STRUCTURED)
    assert seven.json()["results"][0]["duplicate"] is True
    assert seven.json()["results"][0]["seq"] == seqs[7]
    await gw_nc.publish("ingress.late", json.dumps(batch[5]).encode(), headers=dict(STRUCTURED))
    await asyncio.sleep(1.0)
    assert await mesh_last_seq(gw_nc) == before
    # A batch mixing old and new ids appends only the new ones.
    fresh = event(subject="late-new", text="new")
    mixed = (
        await api.post("/v1/events", content=json.dumps([batch[0], fresh]), headers=BATCH)
    ).json()["results"]
    assert mixed[0]["duplicate"] is True and mixed[0]["seq"] == seqs[0]
    assert mixed[1]["duplicate"] is False and mixed[1]["seq"] == before + 1
    assert await mesh_last_seq(gw_nc) == before + 1


async def wait_for_event(api: httpx.AsyncClient, subject: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if (await api.get("/v1/events", params={"subject": subject})).json()["events"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no event on {subject} in the event log after {timeout}s")


async def test_batch_is_all_or_nothing_unless_partial(
    api: httpx.AsyncClient, gw_nc: Client
) -> None:
    good = [event(subject=f"batch{i}", text=f"b{i}") for i in range(5)]
    ok = await api.post("/v1/events", content=json.dumps(good), headers=BATCH)
    assert ok.status_code == 200, ok.text
    seqs = [r["seq"] for r in ok.json()["results"]]
    assert seqs == list(range(seqs[0], seqs[0] + 5))

    mixed = [event(text="fine"), event(text=""), {"not": "an event"}, event(text="also fine")]
    before = await mesh_last_seq(gw_nc)
    rejected = await api.post("/v1/events", content=json.dumps(mixed), headers=BATCH)
    assert_json_error(rejected, 422, "nothing was appended", "event 1")
    statuses = [r["status"] for r in rejected.json()["results"]]
    assert statuses == ["skipped", "rejected", "rejected", "skipped"]
    assert "text" in rejected.json()["results"][1]["reason"]
    assert await mesh_last_seq(gw_nc) == before

    partial = await api.post(
        "/v1/events", params={"partial": "true"}, content=json.dumps(mixed), headers=BATCH
    )
    assert partial.status_code == 207
    body = partial.json()
    assert (body["accepted"], body["rejected"]) == (2, 2)
    assert "error" not in body and body["message"].startswith("2 of 4 appended; event 1")
    assert await mesh_last_seq(gw_nc) == before + 2


async def test_binary_mode(api: httpx.AsyncClient, gw_nc: Client) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": uuid7_str(),
        "ce-source": "/tests/binary",
        "ce-type": ANNOTATION,
        "ce-subject": "bin1",
        "ce-tags": "x",
        "Content-Type": "application/json",
    }
    response = await api.post("/v1/events", content=b'{"text": "binary"}', headers=headers)
    assert response.status_code == 200, response.text
    seq = response.json()["results"][0]["seq"]
    stored = json.loads((await gw_nc.jetstream().get_msg("EVT_MESH", seq)).data or b"")
    assert stored["data"]["text"] == "binary" and stored["tags"] == "x"
    xml = await api.post(
        "/v1/events", content=b"<a/>", headers={**headers, "Content-Type": "text/xml"}
    )
    assert_json_error(xml, 422, "JSON")


async def test_official_cloudevents_sdk_as_an_external_tool(
    gateway_node: GatewayNode, api: httpx.AsyncClient, gw_nc: Client
) -> None:
    for convert in (to_structured_event, to_binary_event):
        attributes = {
            "specversion": "1.0",
            "id": uuid7_str(),
            "type": ANNOTATION,
            "source": "urn:tool:sdk",
            "subject": "sdk1",
        }
        cloud_event = CloudEvent(attributes, {"text": f"from the SDK ({convert.__name__})"})
        message = convert(cloud_event)
        response = await api.post("/v1/events", content=message.body, headers=message.headers)
        assert response.status_code == 200, response.text
        seq = response.json()["results"][0]["seq"]
        stored = json.loads((await gw_nc.jetstream().get_msg("EVT_MESH", seq)).data or b"")
        assert stored["id"] == attributes["id"] and stored["source"] == "urn:tool:sdk"
        assert stored["time"] == cloud_event.get_time().isoformat().replace("+00:00", "Z")


async def test_signed_events_need_a_registered_key(api: httpx.AsyncClient, gw_nc: Client) -> None:
    tool = NodeIdentity.generate()
    unsigned = event(text="signed", time="2026-11-28T10:00:00Z", node=tool.node_id)
    signed = Envelope.model_validate(unsigned).signed_by(tool).attributes()

    not_registered = await api.post("/v1/events", json=signed, headers=STRUCTURED)
    assert_json_error(not_registered, 422, "not a registered publisher key")

    added = await api.post("/v1/publishers", json={"name": "tool", "key": tool.node_id})
    assert added.status_code == 201
    await asyncio.sleep(2.1)  # the key cache of the gateway expires
    accepted = await api.post("/v1/events", json=signed, headers=STRUCTURED)
    assert accepted.status_code == 200, accepted.text
    stored = json.loads(
        (await gw_nc.jetstream().get_msg("EVT_MESH", accepted.json()["results"][0]["seq"])).data
        or b""
    )
    assert stored == signed  # stored exactly as signed: anyone can verify the publisher

    forged = {**signed, "id": uuid7_str(), "data": {"text": "tampered"}}
    assert_json_error(await api.post("/v1/events", json=forged, headers=STRUCTURED), 422, "sig")
    unsigned_with_node = event(node=tool.node_id)
    response = await api.post("/v1/events", json=unsigned_with_node, headers=STRUCTURED)
    assert_json_error(response, 422, "node")
    assert_json_error(await api.delete("/v1/publishers/../../x"), 404)
    assert_json_error(await api.delete("/v1/publishers/not-a-key"), 422, "key")


# --- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"{not json", STRUCTURED, 400, ["not valid JSON"]),
        (b"[1, 2]", STRUCTURED, 400, ["JSON object"]),
        (b"", STRUCTURED, 400, ["empty"]),
        (b"{}", BATCH, 400, ["array"]),
        (b"[]", BATCH, 400, ["empty"]),
        (b'{"text": "x"}', {"Content-Type": "text/plain"}, 415, ["Content-Type"]),
        (b'{"text": "x"}', {}, 415, ["Content-Type"]),
        (b'{"text": "x"}', {"Content-Type": "application/json"}, 415, ["ce-"]),
    ],
)
async def test_unreadable_requests(
    api: httpx.AsyncClient,
    gw_nc: Client,
    body: bytes,
    headers: dict[str, str],
    status: int,
    words: list[str],
) -> None:
    before = await mesh_last_seq(gw_nc)
    response = await api.post("/v1/events", content=body, headers=headers)
    assert_json_error(response, status, *words)
    assert await mesh_last_seq(gw_nc) == before


_DEEP = "[" * 100_000 + "]" * 100_000


def _hostile_bodies() -> list[tuple[str, bytes, dict[str, str], list[str]]]:
    """(name, body, headers, words) for each hostile input in each mode."""
    deep_data = '{"text": "x", "extra": ' + _DEEP + "}"
    structured = json.dumps(event())[:-1]
    cases = []
    for name, data, words in [
        ("deep", deep_data, ["nested deeper than 64"]),
        ("surrogate", '{"text": "\\ud800"}', ["lone surrogate", "ud800"]),
        ("nul", '{"text": "a\\u0000b"}', ["NUL"]),
        ("nul-key", '{"text": "a", "\\u0000": 1}', ["NUL", "key"]),
    ]:
        cases.append((f"structured-{name}", f'{structured}, "data": {data}}}', STRUCTURED, words))
        cases.append((f"batch-{name}", f'[{structured}, "data": {data}}}]', BATCH, words))
        binary = {
            "Content-Type": "application/json",
            "ce-specversion": "1.0",
            "ce-id": uuid7_str(),
            "ce-source": "/tests/http",
            "ce-type": ANNOTATION,
            "ce-subject": "gw-test",
        }
        cases.append((f"binary-{name}", data, binary, words))
    cases.append(("structured-deep-body", _DEEP, STRUCTURED, ["nested deeper than 64"]))
    nul_header = {**cases[-2][2], "ce-source": "/tests%00http"}
    cases.append(("binary-nul-header", '{"text": "x"}', nul_header, ["NUL", "ce-source"]))
    return [(n, b.encode(), h, w) for n, b, h, w in cases]


@pytest.mark.parametrize(
    ("body", "headers", "words"),
    [pytest.param(b, h, w, id=n) for n, b, h, w in _hostile_bodies()],
)
async def test_hostile_json_is_refused_in_every_mode_and_nothing_is_written(
    api: httpx.AsyncClient, gw_nc: Client, body: bytes, headers: dict[str, str], words: list[str]
) -> None:
    before = await mesh_last_seq(gw_nc)
    response = await api.post("/v1/events", content=body, headers=headers)
    assert response.status_code in (400, 422), response.text[:300]
    message = assert_json_error(response, response.status_code)
    for word in words:
        assert word in message, message
    assert await mesh_last_seq(gw_nc) == before
    # The keep-alive connection survives: the next request on it is answered.
    assert (await api.get("/v1/events/stats")).status_code == 200


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_DEEP, ["nested deeper than 64"]),
        ('{"name": "x\\u0000"}', ["NUL"]),
        ('{"name": "\\udfff"}', ["lone surrogate"]),
    ],
)
async def test_the_same_policy_holds_on_every_json_route(
    api: httpx.AsyncClient, body: str, words: list[str]
) -> None:
    for path in ("/v1/tokens", "/v1/rooms", "/v1/personas", "/v1/publishers"):
        response = await api.post(
            path, content=body.encode(), headers={"Content-Type": "application/json"}
        )
        assert_json_error(response, 400, *words)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"specversion": "0.3"}, ["specversion"]),
        ({"id": None}, ["id"]),
        ({"source": None}, ["source"]),
        ({"type": None}, ["type"]),
        ({"subject": None}, ["subject", "aggregate id"]),
        ({"type": "continuum.mesh.nothing.v1"}, ["unknown event type"]),
        ({"type": "continuum.mesh.annotation.added.v9"}, ["no version 9"]),
        ({"type": "continuum.mesh.node.started.v1"}, ["external publishers"]),
        ({"id": "'; DROP TABLE gateway.event_log; --"}, ["UUID"]),
        ({"subject": "../../etc/passwd"}, ["aggregate id"]),
        ({"data": {"text": "x", "extra": 1}}, ["data does not match"]),
        ({"data": {"text": "x", "tags": ["y" * 5000] * 16}}, ["limit"]),
        ({"datacontenttype": "text/plain"}, ["datacontenttype"]),
        ({"publisher": "me"}, ["publisher"]),
        ({"time": "yesterday"}, ["RFC 3339"]),
        ({"Bad-Ext": "x"}, ["extension"]),
    ],
)
async def test_invalid_events_are_rejected_with_the_reason(
    api: httpx.AsyncClient, gw_nc: Client, change: dict[str, Any], words: list[str]
) -> None:
    sent = {k: v for k, v in {**event(), **change}.items() if v is not None}
    before = await mesh_last_seq(gw_nc)
    response = await api.post("/v1/events", content=json.dumps(sent), headers=STRUCTURED)
    if response.status_code == 413:
        assert_json_error(response, 413, "limit")
    else:
        message = assert_json_error(response, 422, "nothing was appended")
        for word in words:
            assert word.lower() in message.lower(), message
    assert await mesh_last_seq(gw_nc) == before


@pytest.mark.parametrize(
    "params",
    [
        {"type": "x' OR 1=1 --"},
        {"type": "../../../etc/passwd"},
        {"subject": "a; DROP TABLE t"},
        {"subject": "../.."},
        {"limit": "0"},
        {"limit": "1; SELECT 1"},
        {"limit": "100000"},
    ],
)
async def test_hostile_query_parameters(api: httpx.AsyncClient, params: dict[str, str]) -> None:
    response = await api.get("/v1/events", params=params)
    assert_json_error(response, 422, next(iter(params)))


@pytest.mark.parametrize(
    ("params", "headers", "words"),
    [
        ({"type": "continuum.nope.v1"}, {}, ["type"]),
        ({"type": "'; DROP TABLE x"}, {}, ["type"]),
        ({"context": "../mesh"}, {}, ["context"]),
        ({"subject": "a b"}, {}, ["subject"]),
        ({}, {"Last-Event-ID": "EVT_MESH:1'--"}, ["Last-Event-ID"]),
        ({}, {"Last-Event-ID": "../../x"}, ["Last-Event-ID"]),
        ({}, {"Last-Event-ID": "12"}, ["single stream"]),
        ({"context": "mesh"}, {"Last-Event-ID": "EVT_CHAT:3"}, ["outside the filter"]),
    ],
)
async def test_hostile_stream_parameters(
    api: httpx.AsyncClient, params: dict[str, str], headers: dict[str, str], words: list[str]
) -> None:
    response = await api.get("/v1/events/stream", params=params, headers=headers)
    assert response.status_code in (400, 422)
    assert_json_error(response, response.status_code, *words)


async def test_hostile_partial_token_and_publisher_input(
    api: httpx.AsyncClient, gateway_node: GatewayNode, gw_nc: Client
) -> None:
    before = await mesh_last_seq(gw_nc)
    for partial in ("yes'; DROP TABLE x", "../../etc", "2"):
        response = await api.post(
            "/v1/events", params={"partial": partial}, json=event(), headers=STRUCTURED
        )
        assert_json_error(response, 422, "partial")
    assert await mesh_last_seq(gw_nc) == before
    async with httpx.AsyncClient(base_url=gateway_node.url) as anonymous:
        for token in ("' OR '1'='1", "../../admin.token", "ctm_" + "x" * 300):
            response = await anonymous.get("/v1/events/stream", params={"access_token": token})
            assert_json_error(response, 401, "invalid")
        # A token in the URL is taken only by the live streams (a browser's
        # EventSource cannot send headers); anywhere else it would leak to logs.
        valid = {"access_token": gateway_node.admin_token}
        assert_json_error(await anonymous.get("/v1/events", params=valid), 401, "required")
        assert_json_error(await anonymous.get("/v1/tokens", params=valid), 401, "required")
    for body in (
        {"name": "tool'; --", "key": "x"},
        {"name": "tool", "key": "'; DROP TABLE gateway.publisher_keys; --"},
        {"name": "tool", "key": "../../../etc/passwd"},
        {"name": "../tool", "key": NodeIdentity.generate().node_id},
    ):
        assert_json_error(await api.post("/v1/publishers", json=body), 422)
    assert_json_error(await api.post("/v1/publishers", json={"name": "x"}), 422, "key")


async def test_unknown_routes_and_methods_answer_json(api: httpx.AsyncClient) -> None:
    assert_json_error(await api.get("/v1/../../etc/passwd"), 404)
    assert_json_error(await api.get("/nothing"), 404)
    assert_json_error(await api.put("/v1/events"), 405)


# --- limits -------------------------------------------------------------------------------


async def test_oversize_bodies_get_413(api: httpx.AsyncClient, gw_nc: Client) -> None:
    before = await mesh_last_seq(gw_nc)
    big = json.dumps([event(text="x" * 1000) for _ in range(300)]).encode()  # > 256 KiB
    assert_json_error(await api.post("/v1/events", content=big, headers=BATCH), 413, "limit")

    async def chunks() -> Any:  # no Content-Length: the limit holds for streamed bodies too
        for start in range(0, len(big), 16384):
            yield big[start : start + 16384]

    streamed = await api.post("/v1/events", content=chunks(), headers=BATCH)
    assert_json_error(streamed, 413, "limit")
    assert await mesh_last_seq(gw_nc) == before


async def test_rate_limit_per_token(api: httpx.AsyncClient, gateway_node: GatewayNode) -> None:
    token = (await api.post("/v1/tokens", json={"name": "busy", "scopes": ["read"]})).json()
    async with gateway_node.client(token["token"]) as busy:
        answers = await asyncio.gather(*(busy.get("/healthz") for _ in range(5)))
        assert all(a.status_code == 200 for a in answers)  # health is never limited
        burst = await asyncio.gather(*(busy.get("/v1/events/stats") for _ in range(4 * RATE_LIMIT)))
        statuses = [r.status_code for r in burst]
        assert statuses[0] == 200 and 429 in statuses
        limited = next(r for r in burst if r.status_code == 429)
        assert int(limited.headers["retry-after"]) >= 1
        assert_json_error(limited, 429, "rate limit")
    assert (await api.get("/v1/events/stats")).status_code == 200  # other tokens unaffected


async def test_browsers_from_allowed_origins_may_call_the_api(
    gateway_node: GatewayNode,
) -> None:
    async with httpx.AsyncClient(base_url=gateway_node.url) as browser:
        preflight = await browser.options(
            "/v1/events",
            headers={
                "Origin": "http://app.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"
        denied = await browser.options(
            "/v1/events",
            headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in denied.headers
        answer = await browser.get(
            "/v1/events/stats",
            headers={
                "Origin": "http://localhost:5173",
                "Authorization": f"Bearer {gateway_node.admin_token}",
            },
        )
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "http://localhost:5173"


# --- discovery and documents --------------------------------------------------------------


async def test_services_and_documents(api: httpx.AsyncClient, gateway_node: GatewayNode) -> None:
    services = (await api.get("/v1/services")).json()["services"]
    gateway = next(s for s in services if s["name"] == "gateway")
    assert gateway["metadata"]["url"] == gateway_node.url
    openapi = (await api.get("/openapi.json")).json()
    assert {"/v1/events", "/v1/events/stream", "/v1/tokens"} <= set(openapi["paths"])
    content = openapi["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    assert "application/cloudevents-batch+json" in content
    asyncapi = (await api.get("/asyncapi.json")).json()
    assert asyncapi["asyncapi"] == "3.0.0" and "ingress" in asyncapi["channels"]


# --- streaming ----------------------------------------------------------------------------


async def _read_sse(response: httpx.Response, count: int) -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    event_id = ""
    async for line in response.aiter_lines():
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            found.append((event_id, json.loads(line[6:])))
            if len(found) == count:
                return found
    return found


async def test_sse_follows_filters_and_resumes(api: httpx.AsyncClient) -> None:
    params = {"type": ANNOTATION, "subject": "sse1"}
    async with api.stream("GET", "/v1/events/stream", params=params) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        for i in range(3):
            await api.post(
                "/v1/events", json=event(subject="other", text="skip"), headers=STRUCTURED
            )
            await api.post(
                "/v1/events", json=event(subject="sse1", text=f"s{i}"), headers=STRUCTURED
            )
        received = await asyncio.wait_for(_read_sse(response, 3), 10)
    assert [e["data"]["text"] for _, e in received] == ["s0", "s1", "s2"]
    first_cursor = received[0][0]
    assert first_cursor.startswith("EVT_MESH:")

    # An EventSource reconnecting after the first event gets the other two again.
    headers = {"Last-Event-ID": first_cursor}
    async with api.stream("GET", "/v1/events/stream", params=params, headers=headers) as again:
        resumed = await asyncio.wait_for(_read_sse(again, 2), 10)
    assert [e["data"]["text"] for _, e in resumed] == ["s1", "s2"]
    # A bare sequence works when one stream is followed.
    seq = first_cursor.split(":")[1]
    async with api.stream(
        "GET", "/v1/events/stream", params={**params, "last_event_id": seq}
    ) as bare:
        assert [e["data"]["text"] for _, e in await asyncio.wait_for(_read_sse(bare, 2), 10)] == [
            "s1",
            "s2",
        ]


async def test_websocket_follows_and_resumes(
    api: httpx.AsyncClient, gateway_node: GatewayNode
) -> None:
    url = f"{gateway_node.url.replace('http', 'ws')}/v1/events/stream"
    async with httpx.AsyncClient() as plain:
        async with aconnect_ws(f"{url}?subject=ws1", plain) as ws:
            error = json.loads(await ws.receive_text())
            assert error["error"]["status"] == 401
        query = f"access_token={gateway_node.admin_token}&subject=ws1&context=mesh"
        async with aconnect_ws(f"{url}?{query}", plain) as ws:
            hello = json.loads(await ws.receive_text())
            assert hello["following"].startswith("EVT_MESH:")
            for i in range(2):
                await api.post(
                    "/v1/events", json=event(subject="ws1", text=f"w{i}"), headers=STRUCTURED
                )
            messages = [json.loads(await ws.receive_text(timeout=10)) for _ in range(2)]
        assert [m["event"]["data"]["text"] for m in messages] == ["w0", "w1"]
        async with aconnect_ws(f"{url}?{query}&last_event_id={messages[0]['id']}", plain) as ws:
            await ws.receive_text()  # following ...
            resumed = json.loads(await ws.receive_text(timeout=10))
        assert resumed["event"]["data"]["text"] == "w1"


# --- NATS ingress -------------------------------------------------------------------------


async def test_external_tool_publishing_straight_to_nats(
    api: httpx.AsyncClient, gw_nc: Client
) -> None:
    js = gw_nc.jetstream()
    structured = event(subject="nats1", text="structured over NATS")
    await js.publish("ingress.tool", json.dumps(structured).encode(), headers=STRUCTURED)
    binary_id = uuid7_str()
    await js.publish(
        "ingress.tool",
        b'{"text": "binary over NATS"}',
        headers={
            "ce-specversion": "1.0",
            "ce-id": binary_id,
            "ce-source": "/tool",
            "ce-type": ANNOTATION,
            "ce-subject": "nats1",
            "content-type": "application/json",
        },
    )
    bad = event(subject="nats1", type="continuum.mesh.node.started.v1")
    await js.publish("ingress.tool", json.dumps(bad).encode(), headers=STRUCTURED)

    for _ in range(100):
        events = (await api.get("/v1/events", params={"subject": "nats1"})).json()["events"]
        if len(events) >= 2:
            break
        await asyncio.sleep(0.1)
    assert {e["id"] for e in events} == {structured["id"], binary_id}
    for _ in range(100):  # the bad one is handled after the two good ones
        if (await js.stream_info("INGRESS")).state.messages == 0:
            break
        await asyncio.sleep(0.1)
    letters = await js.stream_info("DLQ", subjects_filter="dlq.gateway-ingress")
    assert letters.state.subjects and letters.state.subjects["dlq.gateway-ingress"] >= 1
    last = await js.get_last_msg("DLQ", "dlq.gateway-ingress")
    assert "external publishers" in (last.headers or {})["Continuum-Dlq-Reason"]
    assert (await js.stream_info("INGRESS")).state.messages == 0  # all handled


async def test_ingress_dead_letter_redrives_once_its_publisher_is_registered(
    api: httpx.AsyncClient, gw_nc: Client
) -> None:
    tool = NodeIdentity.generate()
    unsigned = event(subject="redrive1", time="2026-11-28T10:00:00Z", node=tool.node_id)
    signed = Envelope.model_validate(unsigned).signed_by(tool).attributes()
    js = gw_nc.jetstream()
    await js.publish("ingress.late-tool", json.dumps(signed).encode(), headers=STRUCTURED)
    letter = None
    for _ in range(100):
        try:
            last = await js.get_last_msg("DLQ", "dlq.gateway-ingress")
        except NotFoundError:
            await asyncio.sleep(0.05)
            continue
        if json.loads(last.data or b"{}").get("id") == signed["id"]:
            letter = last
            break
        await asyncio.sleep(0.05)
    assert letter is not None
    assert "not a registered publisher key" in (letter.headers or {})["Continuum-Dlq-Reason"]

    async def redrive() -> Any:
        return await gw_nc.request(
            "cmd.dlq.gateway-ingress.redrive", json.dumps({"dlq_seq": letter.seq}).encode()
        )

    still = await redrive()
    assert (still.headers or {}).get("Nats-Service-Error-Code") == "409"
    await api.post("/v1/publishers", json={"name": "late-tool", "key": tool.node_id})
    await asyncio.sleep(2.1)  # the gateway's key cache
    done = await redrive()
    assert json.loads(done.data) == {"redriven": letter.seq}, done.headers
    stored = (await api.get("/v1/events", params={"subject": "redrive1"})).json()["events"]
    for _ in range(50):
        if stored:
            break
        await asyncio.sleep(0.1)
        stored = (await api.get("/v1/events", params={"subject": "redrive1"})).json()["events"]
    assert [e["id"] for e in stored] == [signed["id"]]
    gone = await redrive()
    assert (gone.headers or {}).get("Nats-Service-Error-Code") == "404"


# --- the web app and signing a browser in ---------------------------------------------------


async def test_the_web_app_is_served_with_a_strict_policy(api: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(base_url=str(api.base_url)) as anonymous:
        page = await anonymous.get("/")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert '<script type="module" src="/ui/js/app.js">' in page.text
        script = await anonymous.get("/ui/js/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.headers["content-security-policy"] == policy
        assert script.headers["x-content-type-options"] == "nosniff"
        for path in ("/ui/../settings.py", "/ui/%2e%2e/settings.py", "/ui/nothing.js"):
            assert (await anonymous.get(path)).status_code == 404, path
        # The page is public, the data is not.
        assert (await anonymous.get("/v1/whoami")).status_code == 401


async def test_a_one_time_link_signs_a_browser_in_once(
    api: httpx.AsyncClient, gateway_node: GatewayNode
) -> None:
    made = await api.post("/v1/signin/links", json={"name": "laptop", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["url"] == f"{gateway_node.url}/#signin={link['code']}"
    assert link["scopes"] == ["read"] and link["name"] == "laptop"
    async with httpx.AsyncClient(base_url=gateway_node.url) as browser:
        issued = await browser.post("/v1/signin", json={"code": link["code"]})
        assert issued.status_code == 200, issued.text
        token = issued.json()["token"]
        again = await browser.post("/v1/signin", json={"code": link["code"]})
        assert again.status_code == 401
        assert "already used or expired" in again.json()["error"]["message"]
        for body in ({"code": "cts_guess"}, {"code": "x" * 128}, {"code": ""}, {}, []):
            refused = await browser.post("/v1/signin", json=body)
            assert refused.status_code in (401, 422), (body, refused.text)
    async with gateway_node.client(token) as signed_in:
        me = (await signed_in.get("/v1/whoami")).json()
        assert me["name"] == "laptop" and me["scopes"] == ["read"] and "token" not in me
        node = (await signed_in.get("/v1/node")).json()
        assert len(node["node_id"]) == 52 and node["trace_url"] is None
        # A read token cannot make links (nor anything else an admin does).
        assert (await signed_in.post("/v1/signin/links", json={})).status_code == 403
    # A link past its time is refused like a used one (and stays unspent).
    late = (await api.post("/v1/signin/links", json={"ttl_s": 10})).json()
    conn = await asyncpg.connect(gateway_node.database_url)
    try:
        await conn.execute(
            "UPDATE gateway.signin_links SET expires_at = now() - interval '1 second' "
            "WHERE hash = $1",
            hash_token(late["code"]),
        )
    finally:
        await conn.close()
    expired = await api.post("/v1/signin", json={"code": late["code"]})
    assert expired.status_code == 401
    for bad in ({"ttl_s": 5}, {"ttl_s": 10**9}, {"scopes": ["root"]}, {"name": "<b>"}):
        assert (await api.post("/v1/signin/links", json=bad)).status_code == 422, bad
    # Neither codes nor tokens are ever logged.
    log = gateway_node.log.read_text()
    assert link["code"] not in log and token not in log and late["code"] not in log


async def test_a_room_stream_resumes_after_the_last_event_it_sent(api: httpx.AsyncClient) -> None:
    assert (await api.post("/v1/rooms", json={"id": "resume-room"})).status_code == 201
    async with api.stream("GET", "/v1/rooms/resume-room/stream") as response:
        for i in range(3):
            sent = await api.post("/v1/rooms/resume-room/messages", json={"text": f"m{i}"})
            assert sent.status_code == 201, sent.text
        received = await asyncio.wait_for(_read_sse(response, 3), 10)
    texts = [item["event"]["data"]["text"] for _, item in received]
    assert texts == ["m0", "m1", "m2"]
    first = received[0][0]
    assert first.startswith("EVT_CHAT:") and received[0][1]["id"] == first
    headers = {"Last-Event-ID": first}
    async with api.stream("GET", "/v1/rooms/resume-room/stream", headers=headers) as again:
        resumed = await asyncio.wait_for(_read_sse(again, 2), 10)
    assert [item["event"]["data"]["text"] for _, item in resumed] == ["m1", "m2"]
    bad = await api.get("/v1/rooms/resume-room/stream", params={"last_event_id": "EVT_MESH:1"})
    assert bad.status_code == 422


async def test_the_event_stream_can_wrap_each_event_with_its_trace(api: httpx.AsyncClient) -> None:
    params = {"type": ANNOTATION, "subject": "wrapped", "wrap": "true"}
    async with api.stream("GET", "/v1/events/stream", params=params) as response:
        await api.post("/v1/events", json=event(subject="wrapped"), headers=STRUCTURED)
        [(cursor, item)] = await asyncio.wait_for(_read_sse(response, 1), 10)
    assert cursor.startswith("EVT_MESH:")
    assert set(item) == {"event", "trace_id"} and item["event"]["subject"] == "wrapped"
