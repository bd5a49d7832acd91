"""The gateway service: HTTP API, NATS ingress, event log, tokens."""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from typing import Any

from continuum.contracts import command
from continuum.mesh.settings import MeshSettings
from continuum.projections import Projection
from continuum.runtime import RequestError, Service, ServiceContext
from continuum.runtime.commands import as_object
from continuum.store.topology import INGRESS_CONSUMER
from continuum_gateway import event_log
from continuum_gateway.admission import Admissions
from continuum_gateway.chat import Chat
from continuum_gateway.chat_model import ChatProjection
from continuum_gateway.event_log import SCHEMA, EventLogProjection
from continuum_gateway.http import Gateway, create_app
from continuum_gateway.http.server import HttpServer
from continuum_gateway.ingress import EventIngress, NoIndex
from continuum_gateway.mesh import MeshAgent
from continuum_gateway.mesh import commands as mesh_commands
from continuum_gateway.mesh.router import MeshRouter
from continuum_gateway.migrations import MIGRATIONS
from continuum_gateway.nats_ingress import NatsIngress
from continuum_gateway.publishers import PublisherKeys
from continuum_gateway.settings import GatewaySettings
from continuum_gateway.signin import SignInLinks
from continuum_gateway.tokens import TokenStore

log = logging.getLogger("continuum.gateway")
ADMIN_TOKEN_NAME = "node admin"  # noqa: S105 - a label, not a secret


class GatewayService(Service):
    name = "gateway"
    description = "HTTP API, external event ingress and the node's event log"
    schema = SCHEMA
    migrations = MIGRATIONS

    def __init__(self) -> None:
        self.settings = GatewaySettings()
        self._http: HttpServer | None = None
        self._nats_ingress: NatsIngress | None = None
        self._agent: MeshAgent | None = None
        self._mesh: MeshRouter | None = None

    def projections(self) -> Sequence[Projection]:
        return [EventLogProjection(), ChatProjection()]

    def advertised(self) -> dict[str, str]:
        return {"url": self.settings.url}

    def dead_letter_consumers(self) -> Sequence[str]:
        return [INGRESS_CONSUMER]

    async def on_start(self, ctx: ServiceContext) -> None:
        settings = self.settings
        tokens = TokenStore(ctx.pool, SCHEMA)
        admin = settings.admin_token.get_secret_value()
        if admin:
            await tokens.ensure(admin, ADMIN_TOKEN_NAME, frozenset({"admin"}))
        publishers = PublisherKeys(ctx.pool, SCHEMA)
        admissions = Admissions(
            ctx.identity, ctx.codec, require_signature=settings.require_signature
        )
        index = event_log.EventIds(ctx.pool) if settings.id_index else NoIndex()
        ingress = EventIngress(admissions, publishers, ctx.store, index)
        await self._register_endpoints(ctx, tokens, publishers)
        self._nats_ingress = NatsIngress(ctx.broker, ingress, ctx.inbox_prefix)
        await self._nats_ingress.start()
        await ctx.redrive_endpoint(INGRESS_CONSUMER, self._nats_ingress.redrive)
        chat = Chat(ctx.pool, ctx.store, ctx.factory, ctx.broker)
        gateway = Gateway.build(
            settings, ctx.broker, ctx.pool, ctx.codec, tokens, publishers, ingress, chat
        )
        self._mesh = await self._start_mesh(ctx)
        gateway.mesh = self._mesh
        gateway.signin = SignInLinks(ctx.pool, SCHEMA, tokens)
        gateway.node_id = ctx.identity.node_id
        gateway.node_name = ctx.settings.node_name or socket.gethostname()
        self._http = HttpServer(create_app(gateway), settings.host, settings.port)
        await self._http.start()

    async def _start_mesh(self, ctx: ServiceContext) -> MeshRouter:
        """This node's agent on the mesh (also on a node linked to no other:
        ``--mesh global`` then means this node alone)."""
        from continuum.node.state import resolve_urls

        mesh = MeshSettings()
        name = ctx.settings.node_name or socket.gethostname()
        self._agent = MeshAgent(ctx, mesh, name)
        try:
            await self._agent.start(resolve_urls(ctx.settings)[0])
        except Exception as exc:  # the node itself still works; the mesh says why not
            log.error("mesh agent not started (this node stays alone): %s", exc)
        return await mesh_commands.register(ctx, self._agent)

    async def on_stop(self, ctx: ServiceContext) -> None:
        if self._http is not None:
            await self._http.stop()
        if self._agent is not None:
            await self._agent.stop()
        if self._nats_ingress is not None:
            await self._nats_ingress.stop()

    async def _register_endpoints(
        self, ctx: ServiceContext, tokens: TokenStore, publishers: PublisherKeys
    ) -> None:
        """NATS request/reply twins of the admin API, for the CLI."""

        async def stats(_: dict[str, Any]) -> dict[str, Any]:
            return {"types": await event_log.type_counts(ctx.pool)}

        async def query(body: dict[str, Any]) -> dict[str, Any]:
            limit = body.get("limit", 100)
            if not isinstance(limit, int) or not 1 <= limit <= event_log.MAX_QUERY_LIMIT:
                raise RequestError(
                    f"limit must be an integer from 1 to {event_log.MAX_QUERY_LIMIT}"
                )
            filters: dict[str, str | None] = {}
            for key in ("type", "subject"):
                value = body.get(key)
                if value is not None and (not isinstance(value, str) or len(value) > 256):
                    raise RequestError(f"{key} must be a string of at most 256 characters")
                filters[key] = value
            events = await event_log.query_events(
                ctx.pool, event_type=filters["type"], subject=filters["subject"], limit=limit
            )
            return {"events": events}

        async def token_create(body: dict[str, Any]) -> dict[str, Any]:
            token, secret = await tokens.create(body.get("name"), body.get("scopes"))
            return {**token.public(), "token": secret}

        async def token_list(_: dict[str, Any]) -> dict[str, Any]:
            return {"tokens": [t.public() for t in await tokens.list()]}

        async def token_revoke(body: dict[str, Any]) -> dict[str, Any]:
            token = await tokens.revoke(body.get("id"))
            if token is None:
                raise RequestError(f"no token with id {body.get('id')}", 404)
            return token.public()

        async def publisher_add(body: dict[str, Any]) -> dict[str, Any]:
            return await publishers.add(body.get("name"), body.get("key"))

        async def publisher_list(_: dict[str, Any]) -> dict[str, Any]:
            return {"publishers": await publishers.list()}

        async def publisher_revoke(body: dict[str, Any]) -> dict[str, Any]:
            found = await publishers.revoke(body.get("key"))
            if found is None:
                raise RequestError("no such publisher key", 404)
            return found

        for op, handler in (
            ("events.stats", stats),
            ("events.query", query),
            ("tokens.create", token_create),
            ("tokens.list", token_list),
            ("tokens.revoke", token_revoke),
            ("publishers.add", publisher_add),
            ("publishers.list", publisher_list),
            ("publishers.revoke", publisher_revoke),
        ):
            # TokenError is a ValueError: 400
            await ctx.command(command("gateway", op), as_object(handler))
