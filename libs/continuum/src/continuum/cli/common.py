"""What every CLI command shares: settings, connections, requests, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client
from rich.console import Console
from rich.table import Table
from rich.text import Text

from continuum.natsauth import NatsLogin
from continuum.natsauth.permissions import CLI
from continuum.node.state import NodeNotRunning, resolve_login, running_state
from continuum.runtime import requests
from continuum.runtime.connections import login_options
from continuum.settings import Settings

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

T = TypeVar("T")


class CliError(Exception):
    """A failure to report as one clear line, without a traceback."""


class RequestFailed(CliError):
    pass


def failed(message: str, status: int) -> CliError:
    """A service's or the gateway's refusal, in one style for both: ``message (404)``."""
    return RequestFailed(f"{message} ({status})")


def print_error(message: str) -> None:
    """``error: message`` on stderr, the message as plain text: a server's
    ``'^[a-z0-9][a-z0-9-]{0,63}$'`` must not be read as rich markup."""
    err_console.print(Text("error: ", style="red") + Text(message), highlight=False)


def settings() -> Settings:
    return Settings()


def nats_url(s: Settings) -> str:
    if s.nats_url:
        return s.nats_url
    state = running_state(s.home)
    if state is None:
        raise NodeNotRunning(
            f"no Continuum node is running with home {s.home}: start one with `continuum up` "
            "(or set CONTINUUM_NATS_URL)"
        )
    return state.nats_url


def nats_login(s: Settings) -> NatsLogin | None:
    """The CLI's own NATS login (``cli``) on this home's node, or the configured one."""
    try:
        return resolve_login(s, CLI)
    except NodeNotRunning as exc:
        raise CliError(str(exc)) from None


async def connect(s: Settings, timeout: float = 3.0) -> Client:
    """One bounded attempt: a CLI command answers within seconds with a clear
    line when NATS is down, instead of retrying (and printing tracebacks)."""
    return await connect_once(nats_url(s), nats_login(s), timeout)


async def connect_once(url: str, login: NatsLogin | None, timeout: float = 3.0) -> Client:
    async def quiet(_: Exception) -> None:
        """nats-py's default error callback logs a traceback per attempt."""

    try:
        # nats-py loops forever on a refused first connect when
        # max_reconnect_attempts is 0; one attempt, then NoServersError.
        return await asyncio.wait_for(
            nats.connect(
                url,
                name="continuum-cli",
                connect_timeout=timeout,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.1,
                allow_reconnect=False,
                error_cb=quiet,
                **login_options(login),
            ),
            timeout * 2 + 1,
        )
    except nats.errors.Error as exc:
        if "authorization violation" in str(exc).lower():
            who = f"user {login.user!r}" if login else "no user (set CONTINUUM_NATS_USER)"
            raise CliError(f"NATS at {url} refused {who}: check the NATS credentials") from None
        raise CliError(f"cannot reach NATS at {url} ({exc}); is the node up?") from None
    except (OSError, TimeoutError) as exc:
        reason = "no answer" if isinstance(exc, TimeoutError | nats.errors.NoServersError) else exc
        raise CliError(f"cannot reach NATS at {url} ({reason}); is the node up?") from None


async def request_json(
    nc: Client, subject: str, body: dict[str, Any], timeout: float = 10.0
) -> dict[str, Any]:
    try:
        return await requests.request_json(nc, subject, body, timeout)
    except requests.NoService as exc:
        raise RequestFailed(exc.message) from None
    except requests.ServiceRequestError as exc:
        raise failed(exc.message, exc.code) from None


def call(subject: str, body: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """One request to a service of the configured node, from a CLI command."""

    async def main() -> dict[str, Any]:
        nc = await connect(settings())
        try:
            return await request_json(nc, subject, body, timeout)
        finally:
            await nc.close()

    return run(main())


def print_table(title: str, columns: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
