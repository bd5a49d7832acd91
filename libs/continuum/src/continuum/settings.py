"""One settings model for every Continuum process.

Every process (supervisor, services, CLI) reads the same ``CONTINUUM_*``
variables, so compose files, Helm values and the embedded node all speak one
vocabulary. URLs left empty mean "the embedded server of this node".
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_home() -> Path:
    return Path(os.path.expanduser("~/.continuum"))


class Settings(BaseSettings):
    """Configuration shared by all Continuum processes (env prefix ``CONTINUUM_``)."""

    model_config = SettingsConfigDict(env_prefix="CONTINUUM_", extra="ignore")

    home: Path = Field(default_factory=default_home, description="Node home directory.")
    node_name: str = Field(default="", description="Human name of this node (default: hostname).")
    market: str = Field(
        default="",
        pattern=r"^([A-Za-z0-9 _.-]{1,128})?$",
        description="The market this node uses: empty = its own marketplace; else another "
        "node (id, id prefix or name) reached over the mesh.",
    )
    nats_url: str = Field(default="", description="External NATS URL; empty = embedded server.")
    nats_user: str = Field(
        default="",
        description="NATS user to connect as; empty = this process's own identity on the "
        "embedded server (from <home>/nats/logins.json).",
    )
    nats_password: SecretStr = Field(default=SecretStr(""), description="Password of nats_user.")
    database_url: SecretStr = Field(
        default=SecretStr(""), description="External PostgreSQL URL; empty = embedded server."
    )
    nats_host: str = "127.0.0.1"
    nats_port: int = Field(default=4222, ge=1, le=65535)
    postgres_host: str = "127.0.0.1"
    postgres_port: int = Field(default=5433, ge=1, le=65535)
    qdrant_url: str = Field(
        default="", description="Qdrant server URL; empty = local mode under the home dir."
    )
    node_key: SecretStr = Field(
        default=SecretStr(""),
        description="Node signing key (base64 Ed25519 seed); empty = <home>/node.key.",
    )
    max_event_bytes: int = Field(default=64 * 1024, ge=1024, le=1024 * 1024)
    duplicate_window_s: float = Field(
        default=120.0,
        ge=1.0,
        le=86400.0,
        description="JetStream's Nats-Msg-Id dedupe window; ids stay deduplicated past it "
        "through the event-log index.",
    )
    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|text)$")

    @field_validator("home", mode="before")
    @classmethod
    def _expand_home(cls, value: object) -> object:
        if isinstance(value, str):
            return Path(os.path.expanduser(value))
        return value

    @property
    def embedded_nats(self) -> bool:
        return not self.nats_url

    @property
    def embedded_postgres(self) -> bool:
        return not self.database_url.get_secret_value()
