"""A node's servers let in only its own processes, each with only its own rights.

Tried from outside on a running node, as a local process that is not part of
it would: NATS without a login, NATS with the external tools' login, one
service's login used for another's subjects, PostgreSQL without the password.
"""

from __future__ import annotations

import asyncio
import json
import stat
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import nats
import nats.errors
import pytest
from nats.aio.client import Client
from node_cli import cli, state, wait_until

from continuum.identity import NodeIdentity
from continuum.mesh.nkeys import user_seed
from continuum.natsauth import NodeLogins
from continuum.runtime.connections import connect_nats

pytestmark = pytest.mark.e2e

ANNOTATION = "continuum.mesh.annotation.added.v1"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _refused_publish(nc: Client, subject: str) -> str:
    """Publish with a JetStream ack expected; the server's refusal, as nats-py reports it."""
    errors: list[str] = []
    nc._error_cb = _collect(errors)
    with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
        await nc.jetstream().publish(subject, b"{}", timeout=1.5)
    return " ".join(errors).lower()


def _collect(errors: list[str]) -> Any:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    return on_error


def test_only_the_nodes_processes_get_in_each_with_its_own_rights(
    node_env: dict[str, str], expected_violations: list[str]
) -> None:
    assert cli(node_env, "up", "--detach").returncode == 0
    home = Path(node_env["CONTINUUM_HOME"])
    node = state(node_env)
    logins = NodeLogins.read(home)
    assert logins is not None

    # Secrets sit in files only the node's user can read; the config holds none.
    assert _mode(home / "nats" / "logins.json") == 0o600
    assert _mode(home / "postgres" / "password") == 0o600
    conf = (home / "nats" / "nats.conf").read_text()
    assert "NODE {" in conf and "MESH {" in conf and "users = [" in conf
    assert all(password not in conf for password in logins.server_env().values())
    assert user_seed(NodeIdentity.load_or_create(home).signing_key) not in conf

    ingress_url = cli(node_env, "publisher", "nats-url").stdout.strip()
    assert ingress_url.startswith("nats://ingress:")

    async def attempts() -> None:
        # No login: refused outright.
        with pytest.raises(nats.errors.Error, match="Authorization Violation"):
            await nats.connect(node["nats_url"], allow_reconnect=False, max_reconnect_attempts=1)

        # External tools: ingress.> only; a forged event on evt.* never reaches the log.
        tool = await nats.connect(ingress_url, allow_reconnect=False)
        try:
            refusal = await _refused_publish(tool, "evt.mesh.annotation.sec1")
            assert "permissions violation" in refusal
            seen: list[str] = []

            async def snoop(msg: Any) -> None:
                seen.append(msg.subject)

            # A second tool that sends nothing itself: it may see other tools'
            # replies (the first one's PubAck), never the node's own traffic.
            spy = await nats.connect(ingress_url, allow_reconnect=False)
            await spy.subscribe("_INBOX.>", cb=snoop)
            await spy.subscribe("evt.>", cb=snoop)
            await spy.flush()
            ack = await tool.jetstream().publish(
                "ingress.security-test",
                json.dumps(
                    {
                        "specversion": "1.0",
                        "id": str(uuid.uuid4()),
                        "source": "/security-test",
                        "type": ANNOTATION,
                        "subject": "sec1",
                        "data": {"text": "handed in through ingress"},
                    }
                ).encode(),
                headers={"Content-Type": "application/cloudevents+json"},
            )
            assert ack.stream == "INGRESS"
            # The node's own requests and replies go on meanwhile: none is seen.
            assert (await asyncio.to_thread(cli, node_env, "status")).returncode == 0
            await tool.flush()
            await spy.flush()
            print("SEEN", seen)
            assert [s for s in seen if not s.startswith("_INBOX.")] == []
            await spy.close()
        finally:
            await tool.close()

        # A service's login is good for its own subjects only.
        gateway = await connect_nats(node["nats_url"], "impostor", login=logins.login("gateway"))
        try:
            assert "permissions violation" in await _refused_publish(
                gateway, "evt.genome.layer.sec1"
            )
            with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
                await gateway.jetstream().delete_stream(
                    "EVT_CHAT",
                )
        finally:
            await gateway.close()

        # PostgreSQL wants the password.
        port = node_env["CONTINUUM_POSTGRES_PORT"]
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{port}/continuum")
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(f"postgresql://postgres:guess@127.0.0.1:{port}/continuum")

    asyncio.run(attempts())

    # The event handed in on ingress was checked, signed and appended by the
    # gateway; the forged one is nowhere.
    def annotations() -> list[dict[str, Any]]:
        tail = cli(node_env, "events", "tail", "--from-start", "--no-follow", "--json")
        return [json.loads(line) for line in tail.stdout.splitlines() if '"sec1"' in line]

    wait_until(lambda: len(annotations()) == 1)
    assert annotations()[0]["data"]["text"] == "handed in through ingress"
    expected_violations.extend(
        [
            "ingress: Publish evt.mesh.annotation.sec1",
            "ingress: Subscription evt.>",
            "gateway: Publish evt.genome.layer.sec1",
            "gateway: Publish $JS.API.STREAM.DELETE.EVT_CHAT",
        ]
    )
