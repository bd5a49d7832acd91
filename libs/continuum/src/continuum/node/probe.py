"""Asking a node what runs: ``$SRV.PING`` discovery and health requests."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import nats.errors
from nats.aio.client import Client


async def discover(nc: Client, wait: float = 0.5, verb: str = "PING") -> list[dict[str, Any]]:
    """Every service instance that answers ``$SRV.<verb>`` (PING, INFO, STATS)
    within ``wait`` seconds."""
    inbox = nc.new_inbox()
    found: list[dict[str, Any]] = []
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(f"$SRV.{verb}", b"", reply=inbox)
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            try:
                found.append(json.loads(msg.data))
            except ValueError:
                continue
    finally:
        await sub.unsubscribe()
    return sorted(found, key=lambda s: (s.get("name", ""), s.get("id", "")))


async def projections(nc: Client, wait: float = 0.5) -> list[str]:
    """The projections the running services can rebuild (their
    ``cmd.projections.<name>.rebuild`` endpoints)."""
    names = set()
    for info in await discover(nc, wait, verb="INFO"):
        for endpoint in info.get("endpoints") or []:
            parts = str(endpoint.get("subject", "")).split(".")
            if len(parts) == 4 and parts[:2] == ["cmd", "projections"] and parts[3] == "rebuild":
                names.add(parts[2])
    return sorted(names)


async def health(nc: Client, service: str, timeout: float = 3.0) -> dict[str, Any]:
    try:
        msg = await nc.request(f"cmd.{service}.health", b"{}", timeout=timeout)
    except nats.errors.NoRespondersError:
        return {"service": service, "status": "down", "error": "no instance answers"}
    except (nats.errors.TimeoutError, TimeoutError):
        return {"service": service, "status": "down", "error": "health request timed out"}
    try:
        reply: dict[str, Any] = json.loads(msg.data)
    except ValueError:
        return {"service": service, "status": "down", "error": "unreadable health reply"}
    return reply


def personas_row(replies: dict[str, dict[str, Any]]) -> tuple[bool, str] | None:
    """Whether the scheduler has heard every persona announce itself (the
    first question can only get their bids then), from the two services'
    health replies; None on a node without both."""
    runtime, scheduler = replies.get("persona-runtime"), replies.get("scheduler")
    if not runtime or not scheduler or "personas" not in runtime:
        return None
    total, present = runtime["personas"], scheduler.get("personas_present", 0)
    return present >= total, f"{present} of {total} present to the scheduler"


async def wait_personas(nc: Client, timeout: float) -> tuple[bool, str] | None:
    """Wait until every persona is present to the scheduler (or ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        replies = {s: await health(nc, s, timeout=1.0) for s in ("persona-runtime", "scheduler")}
        row = personas_row(replies)
        if row is None or row[0] or loop.time() >= deadline:
            return row
        await asyncio.sleep(0.25)


async def wait_healthy(
    nc: Client,
    services: list[str],
    timeout: float,
    given_up: Callable[[str], bool] | None = None,
) -> dict[str, dict[str, Any]]:
    """Health replies of ``services`` once each is ok, or at ``timeout``; a
    service for which ``given_up`` says True (a crash loop) stops the wait
    for it early."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    results: dict[str, dict[str, Any]] = {}
    pending = list(services)
    while pending and loop.time() < deadline:
        for name in list(pending):
            result = await health(nc, name, timeout=1.0)
            results[name] = result
            if result.get("status") == "ok" or (given_up is not None and given_up(name)):
                pending.remove(name)
        if pending:
            await asyncio.sleep(0.25)
    return results
