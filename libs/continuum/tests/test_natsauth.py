"""NATS logins and permissions, tried against a real nats-server."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import nats.errors
import pytest
from nats.aio.client import Client

from continuum.events import CONTEXTS
from continuum.natsauth import IDENTITIES, INGRESS, NODE, NatsLogin, NodeLogins
from continuum.natsauth.audit import violations
from continuum.natsauth.config import authorization_block, covers
from continuum.node.embedded import NatsServer
from continuum.node.ports import free_port
from continuum.runtime.connections import connect_nats
from continuum.secretfile import PASSWORD_PATTERN, new_password, read_or_create
from continuum.store import Topology


def test_covers_is_nats_subject_matching() -> None:
    assert covers("evt.>", "evt.chat.room.1")
    assert covers("evt.>", "evt.chat.>")
    assert not covers("evt.chat.>", "evt.>")
    assert not covers("evt.>", "evt")
    assert covers("a.*.c", "a.b.c")
    assert not covers("a.*", "a.b.c")


def test_a_rendered_grant_lists_no_subject_twice() -> None:
    block = authorization_block([IDENTITIES[NODE]])
    publish = block.split("publish: {allow: ")[1].split("]")[0] + "]"
    subjects = json.loads(publish)
    assert "$JS.API.>" in subjects and "$JS.API.INFO" not in subjects  # covered by the wider one
    assert "$CONTINUUM_NATS_PASSWORD_NODE" in block  # a reference, never the password


def test_passwords_are_safe_unquoted_and_files_private(tmp_path: Path) -> None:
    assert all(PASSWORD_PATTERN.match(new_password()) for _ in range(200))
    path = tmp_path / "deep" / "secret"
    first = read_or_create(path)
    assert read_or_create(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_node_logins_are_made_once_and_kept(tmp_path: Path) -> None:
    logins = NodeLogins.of_home(tmp_path)
    again = NodeLogins.read(tmp_path)
    assert again is not None
    assert again.server_env() == logins.server_env()
    assert set(logins.server_env()) == {
        f"CONTINUUM_NATS_PASSWORD_{n.upper().replace('-', '_')}" for n in IDENTITIES
    }
    assert stat.S_IMODE(logins.path.stat().st_mode) == 0o600
    # An identity added by a later version gets a password; the others stay.
    stored = json.loads(logins.path.read_text())
    del stored["academy"]
    logins.path.write_text(json.dumps(stored))
    upgraded = NodeLogins.of_home(tmp_path)
    assert upgraded.login("gateway") == logins.login("gateway")
    assert upgraded.login("academy").password != logins.login("academy").password
    logins.path.write_text("{not json")
    with pytest.raises(RuntimeError, match="cannot read NATS logins"):
        NodeLogins.of_home(tmp_path)
    with pytest.raises(KeyError, match="no NATS identity 'nobody'"):
        upgraded.login("nobody")


def test_a_login_never_shows_its_password() -> None:
    login = NatsLogin("ingress", "pSecret123")
    assert "pSecret123" not in repr(login)
    assert login.url("nats://127.0.0.1:4222") == "nats://ingress:pSecret123@127.0.0.1:4222"
    assert login.inbox_prefix == "_INBOX"
    assert NatsLogin("gateway", "x").inbox_prefix == "_I.gateway"


@pytest.fixture
async def secured(tmp_path: Path) -> AsyncIterator[tuple[NatsServer, NodeLogins]]:
    logins = NodeLogins.of_home(tmp_path / "home")
    server = NatsServer(
        tmp_path / "nats",
        port=free_port(),
        authorization=authorization_block(),
        environment=logins.server_env(),
    )
    server.start()
    nc = await connect_nats(server.url, "bootstrap", login=logins.login(NODE))
    await Topology(64 * 1024).bootstrap(nc.jetstream())
    await nc.close()
    yield server, logins
    server.stop()


async def _publishes(nc: Client, subject: str) -> bool:
    try:
        await nc.jetstream().publish(subject, b"{}", timeout=1)
    except (nats.errors.TimeoutError, nats.errors.Error):
        return False
    return True


async def test_nobody_gets_in_without_a_login(secured: tuple[NatsServer, NodeLogins]) -> None:
    server, _ = secured
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=1)
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(
            NatsLogin("gateway", "guess1234567890ab").url(server.url), allow_reconnect=False
        )


async def test_each_identity_appends_only_to_the_contexts_it_owns(
    secured: tuple[NatsServer, NodeLogins],
) -> None:
    server, logins = secured
    granted: dict[str, list[str]] = {}
    for name in ("gateway", "scheduler", "persona-runtime", "genome-registry", "academy"):
        nc = await connect_nats(server.url, name, login=logins.login(name))
        try:
            results = await asyncio.gather(
                *(_publishes(nc, f"evt.{context}.thing.x1") for context in CONTEXTS)
            )
            granted[name] = [c for c, ok in zip(CONTEXTS, results, strict=True) if ok]
            # No service may change the topology (the log of record stays append-only).
            with pytest.raises((nats.errors.TimeoutError, nats.errors.Error)):
                await nc.request("$JS.API.STREAM.DELETE.EVT_CHAT", b"", timeout=0.5)
        finally:
            await nc.close()
    assert granted == {
        "gateway": ["chat", "mesh"],
        "scheduler": ["chat"],
        "persona-runtime": ["chat", "persona"],
        "genome-registry": ["genome"],
        "academy": ["academy"],
    }
    assert any(v.startswith("academy: Publish evt.chat.") for v in violations(server.log_path))


async def test_external_tools_only_hand_events_in(secured: tuple[NatsServer, NodeLogins]) -> None:
    server, logins = secured
    tool = await nats.connect(logins.login(INGRESS).url(server.url), allow_reconnect=False)
    gateway = await connect_nats(server.url, "gateway", login=logins.login("gateway"))
    scheduler = await connect_nats(server.url, "scheduler", login=logins.login("scheduler"))
    try:
        assert (await tool.jetstream().publish("ingress.tool", b"{}")).stream == "INGRESS"
        for subject in ("evt.mesh.annotation.x", "cmd.gateway.tokens.create", "dlq.x"):
            assert not await _publishes(tool, subject)
        seen: list[str] = []

        async def snoop(msg: object) -> None:
            seen.append(getattr(msg, "subject", ""))

        await tool.subscribe("_INBOX.>", cb=snoop)

        async def answer(msg: nats.aio.msg.Msg) -> None:
            await msg.respond(b"a secret reply")

        await scheduler.subscribe("cmd.scheduler.secret", cb=answer)
        await scheduler.flush()
        reply = await gateway.request("cmd.scheduler.secret", b"", timeout=2)
        assert reply.data == b"a secret reply"
        # JetStream delivers to the consumer's inbox under the stream subject:
        # a deny list on _INBOX.gateway.> would not stop this; a separate root does.
        # (the bootstrap's durable consumer: a work queue allows one per filter)
        pull = await gateway.jetstream().pull_subscribe(
            "ingress.>", "gateway-ingress", stream="INGRESS"
        )
        assert [m.subject for m in await pull.fetch(1, timeout=2)] == ["ingress.tool"]
        await tool.flush()
        assert seen == []  # another process's replies are not the tool's to read
    finally:
        for nc in (tool, gateway, scheduler):
            await nc.close()


async def test_streams_of_a_node_made_before_the_accounts_are_kept(tmp_path: Path) -> None:
    """A node's streams lived in NATS's global account before the NODE and
    MESH accounts: on upgrade they are handed over, not lost."""
    old = NatsServer(tmp_path / "nats", port=free_port(), server_name="before")
    old.start()
    try:
        nc = await nats.connect(old.url)
        await nc.jetstream().add_stream(name="KEPT", subjects=["kept.>"])
        await nc.jetstream().publish("kept.one", b"still here")
        await nc.close()
    finally:
        old.stop()
    logins = NodeLogins.of_home(tmp_path / "home")
    new = NatsServer(
        tmp_path / "nats",
        port=free_port(),
        server_name="after",
        authorization=authorization_block(),
        environment=logins.server_env(),
    )
    new.adopt_global_streams("NODE")
    new.start()
    try:
        nc = await connect_nats(new.url, "test", login=logins.login(NODE))
        info = await nc.jetstream().stream_info("KEPT")
        await nc.close()
    finally:
        new.stop()
    assert info.state.messages == 1
