"""Connections every process makes: NATS (reconnecting) and a Postgres pool."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import nats
from nats.aio.client import Client

from continuum.natsauth import NatsLogin

log = logging.getLogger("continuum.connections")


def login_options(login: NatsLogin | None) -> dict[str, Any]:
    """nats.connect keyword arguments for ``login`` (none without one)."""
    if login is None:
        return {}
    return {"user": login.user, "password": login.password, "inbox_prefix": login.inbox_prefix}


def connection_options(login: NatsLogin | None) -> dict[str, Any]:
    """What every process connects with, raw nats-py or FastStream's broker:
    reconnects forever and short pings, so a restarted server is found again
    within seconds and a dead link is noticed quickly; with a ``login``, as
    that user and with its own inbox prefix (which its permissions expect)."""
    return {
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.25,
        "ping_interval": 5,
        "max_outstanding_pings": 3,
        "allow_reconnect": True,
        # A pull subscription waiting in a long fetch keeps a drain waiting for
        # nats-py's 30 s default: bound the goodbye (everything was acked).
        "drain_timeout": 3,
        **login_options(login),
    }


async def connect_nats(
    url: str, name: str, *, login: NatsLogin | None = None, connect_timeout: float = 5.0
) -> Client:
    """A raw nats-py connection (the supervisor, the CLI, tests); services
    connect through their FastStream broker (``continuum.runtime.broker``)."""

    client: list[Client] = []

    async def disconnected() -> None:
        if client and not (client[0].is_closed or client[0].is_draining):
            log.warning("NATS disconnected; reconnecting")

    async def reconnected() -> None:
        log.info("NATS reconnected")

    async def error(exc: Exception) -> None:
        log.warning("NATS error: %s", exc)

    nc = await nats.connect(
        url,
        name=name,
        connect_timeout=connect_timeout,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
        error_cb=error,
        **connection_options(login),
    )
    client.append(nc)
    return nc


#: Backstops against a stuck session: nobody waits on a lock forever, and a
#: session left idle inside a transaction (a crashed client) is ended.
SERVER_SETTINGS = {
    "lock_timeout": "15s",
    "idle_in_transaction_session_timeout": "60s",
}


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 8) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, timeout=10, server_settings=SERVER_SETTINGS
    )
    assert pool is not None
    return pool
