"""The node as a user runs it: `continuum up`, status, publish, tail, down."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import httpx
import pytest
from node_cli import cli, exits, state, wait_until

from continuum.natsauth import NodeLogins
from continuum.runtime.connections import connect_nats

pytestmark = pytest.mark.e2e


def test_a_node_starts_serves_events_and_stops(node_env: dict[str, str]) -> None:
    up = cli(node_env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "node is up" in up.stdout and "service gateway" in up.stdout

    again = cli(node_env, "up", "--detach")
    assert again.returncode == 2 and "already running" in again.stderr

    status = cli(node_env, "status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    components = {c["component"]: c["healthy"] for c in json.loads(status.stdout)["components"]}
    assert components == {
        "NATS": True,
        "PostgreSQL": True,
        "service gateway": True,
        "service scheduler": True,
        "service persona-runtime": True,
        "service genome-registry": True,
        "service academy": True,
        "service marketplace": True,
        "personas": True,  # every persona present to the scheduler: a question gets its bids
    }

    published = cli(
        node_env,
        "events",
        "publish",
        "continuum.mesh.annotation.added.v1",
        "--data",
        '{"text": "hello from the test", "tags": ["e2e"]}',
        "--subject",
        "e2e",
    )
    assert published.returncode == 0, published.stderr
    assert "appended" in published.stdout

    tail = cli(node_env, "events", "tail", "--from-start", "--no-follow", "--json")
    rows = [json.loads(line) for line in tail.stdout.splitlines()]
    mine = [r for r in rows if r.get("subject") == "e2e"]
    assert len(mine) == 1 and mine[0]["verified"] is True
    assert mine[0]["data"]["text"] == "hello from the test"
    assert any(r["type"] == "continuum.mesh.node.started.v1" for r in rows)

    human = cli(
        node_env,
        "events",
        "tail",
        "--from-start",
        "--no-follow",
        "--type",
        "continuum.mesh.annotation.*",
    )
    assert "✓ signed" in human.stdout and "hello from the test" in human.stdout
    assert "node.started" not in human.stdout

    jtag = cli(node_env, "events/replay", "event-log", tool="jtag")
    assert jtag.returncode == 0, jtag.stderr
    assert "rebuilt event-log" in jtag.stdout
    typo = cli(node_env, "events", "replay", "event-lg")
    assert typo.returncode == 2 and "did you mean 'event-log'?" in typo.stderr
    assert "replaying" not in typo.stdout  # refused before any progress is drawn

    down = cli(node_env, "down")
    assert down.returncode == 0 and "node stopped" in down.stdout
    assert cli(node_env, "status").returncode == 2


def test_first_up_creates_an_admin_token_and_tokens_gate_the_http_api(
    node_env: dict[str, str],
) -> None:
    up = cli(node_env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    token_file = Path(node_env["CONTINUUM_HOME"]) / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    admin = token_file.read_text().strip()
    url = f"http://127.0.0.1:{node_env['CONTINUUM_GATEWAY_PORT']}"
    assert f"HTTP API: {url}" in up.stdout, up.stdout
    status = cli(node_env, "status")
    assert url in status.stdout, status.stdout

    created = cli(node_env, "token", "create", "ci", "--scope", "publish")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("ctm_") and "not shown again" in created.stderr
    listed = cli(node_env, "token", "list")
    assert "ci" in listed.stdout and "node admin" in listed.stdout and secret not in listed.stdout
    token_id = next(
        line.split("│")[1].strip() for line in listed.stdout.splitlines() if " ci " in line
    )

    event = {
        "specversion": "1.0",
        "id": "01a22407-0000-7000-8000-00000000c0de",
        "source": "/curl",
        "type": "continuum.mesh.annotation.added.v1",
        "subject": "cli-http",
        "data": {"text": "through the gateway"},
    }
    headers = {"Content-Type": "application/cloudevents+json"}
    with httpx.Client(base_url=url, timeout=10) as http:
        auth = {"Authorization": f"Bearer {secret}"}
        posted = http.post("/v1/events", json=event, headers={**headers, **auth})
        assert posted.status_code == 200, posted.text
        assert http.get("/v1/tokens", headers=auth).status_code == 403
        assert (
            http.get("/v1/tokens", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
        )
        # By name, as a user remembers it (or its id, or the start of its id).
        revoked = cli(node_env, "token", "revoke", "ci")
        assert revoked.returncode == 0, revoked.stderr
        assert token_id.rstrip(".…") in revoked.stdout
        time.sleep(2.1)  # other replicas' caches; this one revoked it itself
        assert http.post("/v1/events", json=event, headers={**headers, **auth}).status_code == 401

    bad = cli(node_env, "token", "create", "x", "--scope", "root")
    assert bad.returncode == 2 and "unknown scope" in bad.stderr
    bad_revoke = cli(node_env, "token", "revoke", "../../etc")
    assert bad_revoke.returncode == 2 and "unknown token '../../etc'" in bad_revoke.stderr
    typo = cli(node_env, "token", "revoke", "node admn")
    assert typo.returncode == 2 and "did you mean 'node admin'?" in typo.stderr

    key_file = Path(node_env["CONTINUUM_HOME"]) / "tool.key"
    keygen = cli(node_env, "publisher", "keygen", str(key_file))
    assert keygen.returncode == 0, keygen.stderr
    key = keygen.stdout.split()[-1]
    assert cli(node_env, "publisher", "add", "tool", key).returncode == 0
    assert key in cli(node_env, "publisher", "list").stdout
    refused = cli(node_env, "publisher", "add", "tool", "not-a-key")
    assert refused.returncode == 2 and "Ed25519" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{not json"], "--data is not valid JSON"),
        (["--data", "[1]"], "--data must be a JSON object"),
        (["--data", '{"colour": "red"}'], "text: Field required"),
        (["--data", '{"text": "' + "x" * 70000 + '"}'], "text: String should have at most 2000"),
    ],
)
def test_bad_publish_input_is_a_clear_error_and_writes_nothing(
    node_env: dict[str, str], args: list[str], message: str
) -> None:
    result = cli(node_env, "events", "publish", "continuum.mesh.annotation.added.v1", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_type_and_no_node(node_env: dict[str, str]) -> None:
    unknown = cli(node_env, "events", "publish", "continuum.mesh.nope.v1", "--data", "{}")
    assert unknown.returncode == 2 and "unknown event type" in unknown.stderr
    tail = cli(node_env, "events", "tail", "--no-follow")
    assert tail.returncode == 2 and "no Continuum node is running" in tail.stderr


def test_bad_configuration_is_a_clear_error(node_env: dict[str, str]) -> None:
    bad = cli({**node_env, "CONTINUUM_NATS_PORT": "0"}, "status")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "invalid configuration: nats_port" in " ".join(bad.stderr.split())


def test_port_in_use_is_named(node_env: dict[str, str]) -> None:
    port = int(node_env["CONTINUUM_NATS_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = cli(node_env, "up")
    assert result.returncode == 2
    assert f"port {port}" in result.stderr and "CONTINUUM_NATS_PORT" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failing_service_is_named_with_its_reason(node_env: dict[str, str]) -> None:
    port = int(node_env["CONTINUUM_GATEWAY_PORT"])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = cli(node_env, "up", "--detach")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "service gateway is not healthy" in result.stderr
    assert f"127.0.0.1:{port}" in result.stderr and "CONTINUUM_GATEWAY_PORT" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_events_schema_is_asyncapi(node_env: dict[str, str]) -> None:
    result = cli(node_env, "events", "schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["asyncapi"].startswith("3.")


def test_dead_letters_are_listed_and_redrive_explains(node_env: dict[str, str]) -> None:
    import asyncio

    from continuum.events import EventFactory
    from continuum.events.builtin import AnnotationAdded
    from continuum.identity import NodeIdentity
    from continuum.testing.contracts import forged_signature

    assert cli(node_env, "up", "--detach").returncode == 0
    forged = forged_signature(
        EventFactory(NodeIdentity.generate(), "/tool").new(AnnotationAdded(text="forged"), "dlq1")
    )

    async def publish_raw() -> None:
        # The operator's CLI login may append anything (it holds the node key);
        # a forged signature is still dead-lettered, never projected.
        cli_login = NodeLogins.read(Path(node_env["CONTINUUM_HOME"]))
        assert cli_login is not None
        nc = await connect_nats(state(node_env)["nats_url"], "test", login=cli_login.login("cli"))
        await nc.jetstream().publish(
            "evt.mesh.annotation.dlq1", json.dumps(forged.attributes()).encode()
        )
        await nc.close()

    asyncio.run(publish_raw())
    wait_until(lambda: "bad-signature" in cli(node_env, "events", "dlq").stdout)
    listing = cli(node_env, "events", "dlq")
    assert "event-log" in listing.stdout and "EVT_MESH" in listing.stdout

    redrive = cli(node_env, "events", "dlq", "redrive", "1")
    assert redrive.returncode == 1 and "still rejected" in redrive.stdout
    missing = cli(node_env, "events", "dlq", "redrive", "99")
    assert missing.returncode == 2 and "no dead letter #99" in missing.stderr
    tail = cli(node_env, "events", "tail", "--from-start", "--no-follow", "--json")
    row = next(json.loads(line) for line in tail.stdout.splitlines() if '"dlq1"' in line)
    assert row["verified"] is False and "signature does not match" in row["problem"]


def test_a_killed_service_is_restarted_and_the_exit_recorded(node_env: dict[str, str]) -> None:
    import signal

    assert cli(node_env, "up", "--detach").returncode == 0
    first = state(node_env)["services"]["gateway"]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: state(node_env)["services"]["gateway"] not in (first, 0))
    wait_until(lambda: cli(node_env, "status").returncode == 0)
    assert exits(node_env) == [
        {"service": "gateway", "exit_code": -9, "restarts": 1, "restart_in_s": 0.5}
    ]


def test_up_uses_external_servers_when_configured(
    node_env: dict[str, str], nats_server: object, database_url: str
) -> None:
    env = {
        **node_env,
        "CONTINUUM_NATS_URL": nats_server.url,  # type: ignore[attr-defined]
        "CONTINUUM_DATABASE_URL": database_url,
    }
    up = cli(env, "up", "--detach")
    assert up.returncode == 0, up.stderr
    assert up.stdout.count("│ external") == 2
    assert not (Path(env["CONTINUUM_HOME"]) / "postgres").exists()
    assert cli(env, "status").returncode == 0
    assert cli(env, "down").returncode == 0


def test_up_after_a_killed_supervisor_cleans_up_and_starts(node_env: dict[str, str]) -> None:
    import signal

    import psutil

    assert cli(node_env, "up", "--detach").returncode == 0
    node = state(node_env)
    left_behind = [node["services"]["gateway"]]
    os.kill(node["pid"], signal.SIGKILL)
    wait_until(lambda: not psutil.pid_exists(node["pid"]))
    assert all(psutil.pid_exists(pid) for pid in left_behind), "children outlive a SIGKILLed parent"

    again = cli(node_env, "up", "--detach")
    assert again.returncode == 0, again.stdout + again.stderr
    log = (Path(node_env["CONTINUUM_HOME"]) / "logs" / "node.log").read_text()
    assert "left by a node that did not stop cleanly" in log
    assert not any(psutil.pid_exists(pid) for pid in left_behind)
    assert cli(node_env, "status").returncode == 0


def test_done_when_a_question_in_the_lobby_gets_one_streamed_answer_and_why(
    node_env: dict[str, str],
) -> None:
    """The issue's "done when": after `up`, `chat send` streams one answer from
    the best-suited persona and `chat why` explains the choice with every bid.
    This node builds its built-in model on first `up`, as a user's would."""
    del node_env["CONTINUUM_PERSONA_MODEL_PATH"]
    node_env["CONTINUUM_PERSONA_MODEL_PRESET"] = "tiny"
    up = cli(node_env, "up", "--detach", timeout=300)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "pre-training the built-in model" in up.stdout
    assert (Path(node_env["CONTINUUM_HOME"]) / "models" / "builtin" / "config.json").exists()
    for service in ("gateway", "scheduler", "persona-runtime"):
        assert f"service {service}" in up.stdout

    # As the README goes: status says healthy, and the very next question is
    # answered with a bid from every persona (they are warm before healthy).
    status = cli(node_env, "status")
    assert status.returncode == 0 and "5 of 5 present to the scheduler" in status.stdout
    send = cli(node_env, "chat", "send", "lobby", "How do I fix this Python KeyError?")
    assert send.returncode == 0, send.stdout + send.stderr
    speaker = send.stdout.strip().split(":", 1)[0]
    assert speaker in ("Debugger AI", "CodeReview AI"), send.stdout
    assert "turn → " in send.stderr and "5 bids" in send.stderr
    message_id = send.stderr.split("continuum chat why ", 1)[1].split("`", 1)[0]

    personas = cli(node_env, "persona", "ls")
    for name in ("Helper AI", "Teacher AI", "CodeReview AI", "Architect AI", "Debugger AI"):
        assert name in personas.stdout, personas.stdout + personas.stderr

    why = cli(node_env, "chat", "why", message_id)
    assert why.returncode == 0, why.stdout + why.stderr
    for name in ("Helper AI", "Teacher AI", "CodeReview AI", "Architect AI", "Debugger AI"):
        assert name in why.stdout
    assert "won" in why.stdout and "best score" in why.stdout

    rooms = cli(node_env, "chat", "rooms")
    assert "lobby" in rooms.stdout and "best-bid" in rooms.stdout

    generated = cli(
        node_env, "ai/generate", "--prompt=Explain RTOS", "--persona=Teacher AI", tool="jtag"
    )
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "teacher-ai via builtin" in generated.stderr
    # The mesh router, on a node linked to no other: global is this node alone.
    routed = cli(
        node_env,
        "ai",
        "generate",
        "--prompt",
        "x",
        "--persona",
        "Teacher AI",
        "--mesh",
        "global",
        "--max-tokens",
        "4",
        "--why",
    )
    assert routed.returncode == 0, routed.stdout + routed.stderr
    assert "this node" in routed.stdout and "via " in routed.stderr
    nowhere = cli(node_env, "ai", "generate", "--prompt", "x", "--mesh", "nowhere")
    assert nowhere.returncode == 2 and "no node 'nowhere' in the mesh" in nowhere.stderr
    unknown = cli(node_env, "chat", "send", "nowhere", "hi")
    assert unknown.returncode == 2 and "unknown room 'nowhere'" in unknown.stderr
