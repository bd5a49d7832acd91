"""Events of the node itself (context ``mesh``).

These are what a bare node emits before any domain service exists: its
lifecycle, its services' lifecycle (so a crash loop is visible in the log of
record), and operator annotations on the node's timeline.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from continuum.events.catalog import catalog


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


@catalog.register(context="mesh", aggregate="node", name="started")
class NodeStarted(_Payload):
    """A node came up: its name, software version and the services it runs."""

    name: str = Field(min_length=1, max_length=128)
    version: str = Field(min_length=1, max_length=64)
    services: list[str] = Field(default_factory=list, max_length=64)
    nats_url: str = Field(max_length=256)


@catalog.register(context="mesh", aggregate="node", name="stopped")
class NodeStopped(_Payload):
    """A node shut down cleanly."""

    name: str = Field(min_length=1, max_length=128)
    uptime_s: float = Field(ge=0)


@catalog.register(context="mesh", aggregate="service", name="exited")
class ServiceExited(_Payload):
    """A supervised service process exited unexpectedly and will be restarted."""

    service: str = Field(min_length=1, max_length=64)
    exit_code: int
    restarts: int = Field(ge=0)
    restart_in_s: float = Field(ge=0)


@catalog.register(context="mesh", aggregate="annotation", name="added", external=True)
class AnnotationAdded(_Payload):
    """An operator's note on the node timeline (deploys, incidents, experiments)."""

    text: str = Field(min_length=1, max_length=2000)
    tags: list[str] = Field(default_factory=list, max_length=16)
    severity: Literal["info", "warning", "critical"] = "info"
