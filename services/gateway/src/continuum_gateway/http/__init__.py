"""The gateway's HTTP API (FastAPI on uvicorn, ADR 0005)."""

from continuum_gateway.http.app import Gateway, create_app

__all__ = ["Gateway", "create_app"]
