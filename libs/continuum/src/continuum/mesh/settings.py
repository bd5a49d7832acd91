"""The mesh's settings (``CONTINUUM_MESH_*``), and where a node keeps its links.

Hubs a node joins and nodes a hub admits come from two places: the
environment (compose, Helm, a shell) and two files under the node home that
``continuum mesh join`` and ``continuum mesh admit`` edit, so a join made at
run time survives a restart.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from continuum.identity import key_from_node_id

LEAF_SCHEMES = ("nats-leaf", "tls")


class MeshConfigError(ValueError):
    """A hub URL or an admitted node id that cannot be used; the message says why."""


def check_hub_url(url: str) -> str:
    """``url`` if it is a leaf-node URL (``nats-leaf://HOST:PORT``), else a clear error."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in LEAF_SCHEMES or not parts.hostname:
        raise MeshConfigError(
            f"{url!r} is not a hub URL: expected nats-leaf://HOST:PORT (the hub's leaf port)"
        )
    try:
        port = parts.port
    except ValueError:
        raise MeshConfigError(f"{url!r} has an invalid port") from None
    if parts.username or parts.password:
        raise MeshConfigError(
            f"{url!r} carries credentials: a leaf authenticates with the node key, not a password"
        )
    return f"{parts.scheme}://{parts.hostname}:{port or 7422}"


def check_node_id(node_id: str) -> str:
    node_id = node_id.strip().lower()
    try:
        key_from_node_id(node_id)
    except ValueError as exc:
        raise MeshConfigError(f"{node_id!r} is not a node id: {exc}") from None
    return node_id


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace("\n", ",").split(",") if v.strip()]


class MeshSettings(BaseSettings):
    """How this node takes part in the mesh."""

    model_config = SettingsConfigDict(env_prefix="CONTINUUM_MESH_", extra="ignore")

    hub: bool = Field(default=False, description="Accept leaf connections from other nodes.")
    host: str = Field(default="0.0.0.0", description="Interface a hub accepts leaves on.")
    port: int = Field(default=7422, ge=1, le=65535, description="A hub's leaf-node port.")
    hubs: str = Field(
        default="", description="Comma-separated hubs to join (nats-leaf://HOST:PORT)."
    )
    admit: str = Field(default="", description="Comma-separated node ids a hub admits as leaves.")
    url: str = Field(
        default="",
        description="How leaves reach this hub (advertised); default nats-leaf://HOST:PORT.",
    )
    nats_password: SecretStr = Field(
        default=SecretStr(""), description="The mesh agent's password on the MESH account."
    )
    price: float = Field(
        default=0.0,
        ge=0,
        le=1e6,
        description="Credits per generation (0 = free), charged through the market.",
    )
    announce_s: float = Field(default=5.0, gt=0, le=3600, description="Advert re-announce period.")
    advert_ttl_s: float = Field(
        default=15.0, gt=0, le=86400, description="How long a peer's advert is believed."
    )
    heartbeat_s: float = Field(
        default=0.15, gt=0, le=10, description="Serving node's heartbeat while it generates."
    )
    silence_s: float = Field(
        default=0.5, gt=0, le=60, description="Silence after which a serving node counts as dead."
    )
    ban_s: float = Field(
        default=5.0, ge=0, le=3600, description="First ban of a failing node (doubles each time)."
    )
    lan: bool = Field(default=True, description="Send and hear LAN beacons (UDP multicast, TTL 1).")
    lan_group: str = Field(
        default="239.255.77.77", description="The multicast group LAN beacons go to."
    )
    lan_port: int = Field(default=7423, ge=1, le=65535, description="The LAN beacons' UDP port.")
    lan_interface: str = Field(
        default="",
        description="IPv4 address of the interface beacons use (default: the host's default; "
        "127.0.0.1 keeps them on this host).",
    )
    link_ping: str = Field(
        default="500ms",
        pattern=r"^[0-9]+(ms|s)$",
        description="nats-server ping interval on a mesh node (a dead link is noticed "
        "after two unanswered pings).",
    )

    @field_validator("lan_group")
    @classmethod
    def _multicast(cls, value: str) -> str:
        try:
            address = ipaddress.IPv4Address(value)
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 address") from None
        if not address.is_multicast:
            raise ValueError(f"{value} is not a multicast group (224.0.0.0/4)")
        return value

    @field_validator("lan_interface")
    @classmethod
    def _interface(cls, value: str) -> str:
        if value:
            try:
                ipaddress.IPv4Address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an interface's IPv4 address") from None
        return value

    @property
    def leaf_url(self) -> str:
        if self.url:
            return check_hub_url(self.url)
        host = socket.gethostname() if self.host in ("0.0.0.0", "::", "") else self.host
        return f"nats-leaf://{host}:{self.port}"

    def hub_urls(self, home: Path | None = None) -> list[str]:
        found = _split(self.hubs) + (read_list(hubs_file(home)) if home else [])
        return list(dict.fromkeys(check_hub_url(u) for u in found))

    def admitted(self, home: Path | None = None) -> list[str]:
        found = _split(self.admit) + (read_list(admitted_file(home)) if home else [])
        return list(dict.fromkeys(check_node_id(n) for n in found))

    def enabled(self, home: Path | None = None) -> bool:
        """Whether this node's NATS links to others (as a hub, a leaf, or both)."""
        return self.hub or bool(self.hub_urls(home))


def hubs_file(home: Path) -> Path:
    return home / "mesh" / "hubs"


def admitted_file(home: Path) -> Path:
    return home / "mesh" / "admitted"


def read_list(path: Path) -> list[str]:
    try:
        return _split(path.read_text())
    except FileNotFoundError:
        return []


def add_to_list(path: Path, value: str) -> bool:
    """Append ``value`` to the list file; False when it was already there."""
    current = read_list(path)
    if value in current:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*current, value]) + "\n")
    return True


def remove_from_list(path: Path, value: str) -> bool:
    current = read_list(path)
    if value not in current:
        return False
    path.write_text("".join(f"{v}\n" for v in current if v != value))
    return True
