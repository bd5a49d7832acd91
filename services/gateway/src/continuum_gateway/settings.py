"""The gateway's own settings (``CONTINUUM_GATEWAY_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTINUUM_GATEWAY_", extra="ignore")

    host: str = Field(default="127.0.0.1", description="Interface the HTTP API listens on.")
    port: int = Field(default=8080, ge=1, le=65535, description="HTTP port.")
    public_url: str = Field(
        default="", description="URL clients use (shown by `continuum status`); default host:port."
    )
    max_body_bytes: int = Field(
        default=4 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024, description="Request body limit."
    )
    max_layer_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Body limit of genome layer uploads (PUT /v1/genome/blobs/...).",
    )
    rate_limit: float = Field(
        default=200.0, ge=0, description="Requests per second per token (0 = unlimited)."
    )
    rate_burst: int = Field(default=400, ge=1, description="Requests a token may burst.")
    require_signature: bool = Field(
        default=False, description="Accept only events signed by registered publisher keys."
    )
    id_index: bool = Field(
        default=True,
        description="Deduplicate event ids for as long as the event is in the log (false: "
        "only inside JetStream's dedupe window; faster ingress, see docs/benchmarks.md).",
    )
    cors_origins: str = Field(
        default="",
        description="Comma-separated browser origins allowed to call the API (CORS).",
    )
    trace_url: str = Field(
        default="",
        max_length=2000,
        description="Where the web app links an event's trace: a URL with {trace_id} in it "
        "(Grafana Explore on Tempo, say); empty: no links.",
    )
    admin_token: SecretStr = Field(
        default=SecretStr(""), description="Admin token to register at start (set by the node)."
    )

    @property
    def allowed_origins(self) -> list[str]:
        return [o.strip().rstrip("/") for o in self.cors_origins.split(",") if o.strip()]

    @property
    def url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"
