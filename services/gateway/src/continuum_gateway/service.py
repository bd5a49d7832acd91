"""The gateway service: hosts the event log and answers queries on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from continuum.projections import Projection
from continuum.runtime import RequestError, Service, ServiceContext
from continuum_gateway.event_log import SCHEMA, EventLogProjection

_MAX_LIMIT = 1000


class GatewayService(Service):
    name = "gateway"
    description = "Event ingress and the node's event log"
    schema = SCHEMA

    def projections(self) -> Sequence[Projection]:
        return [EventLogProjection()]

    async def on_start(self, ctx: ServiceContext) -> None:
        async def stats(_: dict[str, Any]) -> dict[str, Any]:
            async with ctx.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT type, events, last_time FROM {SCHEMA}.event_type_counts ORDER BY type"
                )
            return {"types": [dict(r) for r in rows]}

        async def query(body: dict[str, Any]) -> dict[str, Any]:
            limit = body.get("limit", 100)
            if not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
                raise RequestError(f"limit must be an integer from 1 to {_MAX_LIMIT}")
            clauses, args = [], []
            for key in ("type", "subject"):
                value = body.get(key)
                if value is not None:
                    if not isinstance(value, str) or len(value) > 256:
                        raise RequestError(f"{key} must be a string of at most 256 characters")
                    args.append(value)
                    clauses.append(f"{key} = ${len(args)}")
            where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
            args.append(limit)
            async with ctx.pool.acquire() as conn:
                rows = await conn.fetch(
                    f"SELECT stream, seq, id, type, subject, node, time FROM {SCHEMA}.event_log "
                    f"{where} ORDER BY time DESC, stream, seq DESC LIMIT ${len(args)}",
                    *args,
                )
            return {"events": [dict(r) for r in rows]}

        await ctx.endpoint("events-stats", "cmd.gateway.events.stats", stats)
        await ctx.endpoint("events-query", "cmd.gateway.events.query", query)
