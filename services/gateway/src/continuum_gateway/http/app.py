"""The FastAPI application and what its handlers share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from faststream.nats import NatsBroker
from nats.aio.client import Client
from starlette.requests import HTTPConnection

from continuum import __version__
from continuum.asyncapi import asyncapi_document
from continuum.events.codec import EventCodec
from continuum_gateway.chat import Chat
from continuum_gateway.http import errors, openapi
from continuum_gateway.http.middleware import BodyLimit, Guard, JsonPolicy, Telemetry
from continuum_gateway.ingress import EventIngress
from continuum_gateway.mesh.router import MeshRouter
from continuum_gateway.publishers import PublisherKeys
from continuum_gateway.ratelimit import RateLimiter
from continuum_gateway.settings import GatewaySettings
from continuum_gateway.signin import SignInLinks
from continuum_gateway.tokens import TokenStore


@dataclass
class Gateway:
    """Everything the HTTP handlers use; built once by the service."""

    settings: GatewaySettings
    broker: NatsBroker
    pool: asyncpg.Pool
    codec: EventCodec
    tokens: TokenStore
    publishers: PublisherKeys
    ingress: EventIngress
    limiter: RateLimiter
    asyncapi: dict[str, Any]
    chat: Chat | None = None
    #: Routes generations through the mesh (set once the agent has started).
    mesh: MeshRouter | None = None
    #: One-time sign-in links for the web app.
    signin: SignInLinks | None = None
    #: This node's id and name (GET /v1/node).
    node_id: str = ""
    node_name: str = ""

    @property
    def nc(self) -> Client:
        """The broker's connection (JetStream management, the Object Store)."""
        return self.broker.connection

    @classmethod
    def build(
        cls,
        settings: GatewaySettings,
        broker: NatsBroker,
        pool: asyncpg.Pool,
        codec: EventCodec,
        tokens: TokenStore,
        publishers: PublisherKeys,
        ingress: EventIngress,
        chat: Chat | None = None,
    ) -> Gateway:
        return cls(
            settings,
            broker,
            pool,
            codec,
            tokens,
            publishers,
            ingress,
            RateLimiter(settings.rate_limit, settings.rate_burst),
            asyncapi_document(),
            chat,
        )


def gateway_of(request: HTTPConnection) -> Gateway:
    """The Gateway a request (or WebSocket) is served by."""
    gateway: Gateway = request.app.state.gateway
    return gateway


def create_app(gateway: Gateway) -> FastAPI:
    from continuum_gateway.http import (
        routes_academy,
        routes_admin,
        routes_chat,
        routes_code,
        routes_events,
        routes_games,
        routes_genome,
        routes_market,
        routes_mesh,
        routes_signin,
        webapp,
    )

    app = FastAPI(
        title="Continuum gateway",
        version=__version__,
        description=(
            "HTTP API of a Continuum node: publish CloudEvents, follow the event log, manage "
            "API tokens and publisher keys. Every endpoint except /healthz and /readyz needs "
            "a bearer token."
        ),
        openapi_url=None,  # served by routes_admin behind the read scope
        docs_url=None,
        redoc_url=None,
    )
    app.state.gateway = gateway
    errors.install(app)

    def document() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi.complete(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = document  # type: ignore[method-assign]
    app.include_router(routes_events.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_chat.router)
    app.include_router(routes_genome.router)
    app.include_router(routes_academy.router)
    app.include_router(routes_games.router)
    app.include_router(routes_code.router)
    app.include_router(routes_mesh.router)
    app.include_router(routes_market.router)
    app.include_router(routes_signin.router)
    webapp.mount(app)
    # Inside BodyLimit, so it reads at most the limit; /v1/events applies the
    # policy while reading its CloudEvents (cloudevents.read_events).
    app.add_middleware(JsonPolicy, applied_by_route=frozenset({"/v1/events"}))
    app.add_middleware(
        BodyLimit,
        limit=gateway.settings.max_body_bytes,
        larger={routes_genome.BLOBS_PREFIX: gateway.settings.max_layer_bytes},
    )
    app.add_middleware(Telemetry)
    app.add_middleware(Guard)
    origins = gateway.settings.allowed_origins
    if origins:  # outermost: a browser's preflight needs no token
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "ce-*"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    return app
