"""Where a running node writes down what runs where (``<home>/run/node.json``).

The CLI and the services read it to find the node's NATS and Postgres when no
``CONTINUUM_NATS_URL`` / ``CONTINUUM_DATABASE_URL`` is set.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from continuum.secretfile import write_private
from continuum.settings import Settings

if TYPE_CHECKING:
    from continuum.natsauth import NatsLogin


class NodeNotRunning(RuntimeError):
    pass


@dataclass
class NodeState:
    pid: int
    node_id: str
    name: str
    nats_url: str
    database_url: str
    started_at: str
    embedded_nats: bool
    embedded_postgres: bool
    services: dict[str, int] = field(default_factory=dict)
    #: The embedded servers' pids (``nats-server``, ``postgres``), kept current.
    servers: dict[str, int] = field(default_factory=dict)
    #: What services advertise (e.g. the gateway's HTTP API), by service.
    urls: dict[str, str] = field(default_factory=dict)
    #: Services that were not healthy when the node came up, with the reason.
    unhealthy: dict[str, str] = field(default_factory=dict)
    ready: bool = False

    def alive(self) -> bool:
        return bool(psutil.pid_exists(self.pid))


def state_path(home: Path) -> Path:
    return home / "run" / "node.json"


def write_state(home: Path, state: NodeState) -> None:
    write_private(state_path(home), json.dumps(asdict(state), indent=2))


def read_state(home: Path) -> NodeState | None:
    try:
        data = json.loads(state_path(home).read_text())
        return NodeState(**data)
    except (OSError, ValueError, TypeError):
        return None


def clear_state(home: Path) -> None:
    state_path(home).unlink(missing_ok=True)


def running_state(home: Path) -> NodeState | None:
    state = read_state(home)
    if state is None or not state.alive():
        return None
    return state


def resolve_login(settings: Settings, identity: str) -> NatsLogin | None:
    """Who to connect to NATS as: ``CONTINUUM_NATS_USER``/``_PASSWORD`` if set,
    else ``identity``'s login on this home's embedded server, else nobody
    (a server without authentication)."""
    from continuum.natsauth import NatsLogin, NodeLogins  # its permissions need the catalog

    if settings.nats_user:
        return NatsLogin(settings.nats_user, settings.nats_password.get_secret_value())
    if settings.nats_url:
        return None
    try:
        logins = NodeLogins.read(settings.home)
    except (OSError, RuntimeError) as exc:
        raise NodeNotRunning(f"cannot read this node's NATS logins: {exc}") from None
    return logins.login(identity) if logins is not None else None


def resolve_urls(settings: Settings) -> tuple[str, str]:
    """NATS and Postgres URLs: explicit settings first, else the running node's."""
    nats_url = settings.nats_url
    database_url = settings.database_url.get_secret_value()
    if nats_url and database_url:
        return nats_url, database_url
    state = running_state(settings.home)
    if state is None:
        raise NodeNotRunning(
            f"no Continuum node is running with home {settings.home}: start one with "
            "`continuum up`, or set CONTINUUM_NATS_URL and CONTINUUM_DATABASE_URL"
        )
    return nats_url or state.nats_url, database_url or state.database_url
