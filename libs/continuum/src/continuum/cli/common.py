"""What every CLI command shares: settings, connections, requests, errors."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from continuum.node.state import NodeNotRunning, running_state
from continuum.settings import Settings

if TYPE_CHECKING:  # NATS and its logins are imported by the commands that connect
    from nats.aio.client import Client

    from continuum.natsauth import NatsLogin

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
    from continuum.natsauth.permissions import CLI
    from continuum.node.state import resolve_login

    try:
        return resolve_login(s, CLI)
    except NodeNotRunning as exc:
        raise CliError(str(exc)) from None


async def connect(s: Settings, timeout: float = 3.0) -> Client:
    """One bounded attempt: a CLI command answers within seconds with a clear
    line when NATS is down, instead of retrying (and printing tracebacks)."""
    return await connect_once(nats_url(s), nats_login(s), timeout)


async def connect_once(url: str, login: NatsLogin | None, timeout: float = 3.0) -> Client:
    import nats
    import nats.errors

    from continuum.runtime.connections import login_options

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
    from continuum.runtime import requests

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


def shorten(text: str, width: int) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters (`` …``),
    never mid-word: for free text in a table cell, never for an id."""
    return textwrap.shorten(text, width, placeholder=" …") if text else text


def print_table(
    title: str,
    columns: tuple[str, ...],
    rows: Sequence[tuple[str, ...]],
    *,
    whole: Sequence[str] = (),
    optional: Sequence[str] = (),
) -> None:
    """A table that fits the terminal without cutting what a user copies.

    An ``id`` column (or one ending in `` id``, or named in ``whole``) is
    never shortened. When the table cannot fit even with every cell wrapped
    at word boundaries, the ``optional`` columns go first, in the order
    given (a note says which); what still does not fit folds mid-word rather
    than ending in an ellipsis."""
    keep = list(range(len(columns)))
    for name in optional:
        needed = _min_width([columns[i] for i in keep], [[r[i] for i in keep] for r in rows], whole)
        if needed < console.width:
            break
        keep.remove(columns.index(name))
    dropped = [c for i, c in enumerate(columns) if i not in keep]
    table = Table(title=title)
    for i in keep:
        column = columns[i]
        if _is_whole(column, whole):
            width = max([len(column), *(len(row[i]) for row in rows)])
            table.add_column(column, no_wrap=True, min_width=width)
        else:
            table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    console.print(table)
    if dropped:
        err_console.print(
            f"[dim]left out at {console.width} columns: {', '.join(dropped)} "
            "(a wider terminal shows them)[/]"
        )


def _is_whole(column: str, whole: Sequence[str]) -> bool:
    return column == "id" or column.endswith(" id") or column in whole


def _min_width(columns: list[str], rows: list[list[str]], whole: Sequence[str]) -> int:
    """The narrowest the table can be with no word cut: each column as wide
    as its longest word (its longest cell if it is kept whole), plus borders."""
    total = 1
    for i, column in enumerate(columns):
        cells = [column, *(row[i] for row in rows)]
        if _is_whole(column, whole):
            longest = max(len(cell) for cell in cells)
        else:
            longest = max((len(word) for cell in cells for word in cell.split()), default=1)
        total += longest + 3
    return total


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)
