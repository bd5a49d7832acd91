"""What the running services answer is what the contracts (and so the AsyncAPI
document) say: every endpoint a service instance reports on ``$SRV.INFO`` is
a documented command, and every documented command of a service is served."""

from __future__ import annotations

import re

from rooms_harness import RoomNode

from continuum.asyncapi import node_commands
from continuum.node.probe import discover


def _pattern(subject: str) -> re.Pattern[str]:
    """``cmd.{service}.health`` -> a regex matching any service's health subject."""
    parts = re.split(r"\{[a-z_]+\}", subject)
    return re.compile("^" + "[A-Za-z0-9_-]+".join(re.escape(p) for p in parts) + "$")


async def test_every_served_command_is_documented_and_every_documented_one_served(
    room_node: RoomNode,
) -> None:
    documented = node_commands()
    patterns = [_pattern(c.subject) for c in documented]
    nc = await room_node.connect("contracts-test")
    try:
        infos = await discover(nc, wait=1.0, verb="INFO")
    finally:
        await nc.close()
    served = {e["subject"] for info in infos for e in info["endpoints"]}
    assert {info["name"] for info in infos} >= {"gateway", "scheduler", "persona-runtime"}
    undocumented = sorted(s for s in served if not any(p.match(s) for p in patterns))
    assert undocumented == []
    running = {info["name"] for info in infos}
    missing = sorted(
        c.subject
        for c in documented
        if c.service in running and "{" not in c.subject and c.subject not in served
    )
    assert missing == []


async def test_replies_carry_what_their_contracts_promise(room_node: RoomNode) -> None:
    """Real answers of read commands validate against their reply models."""
    from continuum.contracts import command, health
    from continuum.runtime.requests import request_json

    nc = await room_node.connect("contracts-replies")
    try:
        for service in ("gateway", "scheduler", "persona-runtime", "genome-registry", "academy"):
            contract = health(service)
            contract.reply.model_validate(await request_json(nc, contract.subject, {}))
        personas = command("persona-runtime", "list")
        listed = personas.reply.model_validate(await request_json(nc, personas.subject, {}))
        show = command("persona-runtime", "show")
        first = listed.personas[0]  # type: ignore[attr-defined]
        show.reply.model_validate(await request_json(nc, show.subject, {"persona": first.id}))
        search = command("genome-registry", "search")
        found = await request_json(nc, search.subject, {"query": "python", "k": 3})
        search.reply.model_validate(found)
    finally:
        await nc.close()
