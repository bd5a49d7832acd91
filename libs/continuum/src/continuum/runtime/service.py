"""The base every Continuum service runs on.

A service declares its name, Postgres schema, migrations, projections and
request/reply endpoints; ``run_service`` does the rest: settings, logging,
tracing, the NATS connection, the Postgres pool, migrations, projection
runners, registration on the NATS service API (so ``$SRV.PING/INFO/STATS``
find it), a ``cmd.<service>.health`` endpoint and a graceful shutdown on
SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import asyncpg
from nats.aio.client import Client
from nats.micro import add_service
from nats.micro.request import Request
from nats.micro.service import EndpointConfig
from nats.micro.service import Service as MicroService
from opentelemetry.trace import SpanKind

from continuum import __version__, jsoninput, telemetry
from continuum.events.codec import EventCodec, EventFactory
from continuum.events.errors import EventError
from continuum.identity import NodeIdentity
from continuum.logs import configure_logging
from continuum.projections.deadletters import DeadLetter, DeadLetterQueue
from continuum.projections.projection import Projection
from continuum.projections.runner import ProjectionRunner
from continuum.runtime.connections import connect_nats, create_pool
from continuum.runtime.metrics import ServiceMetrics
from continuum.runtime.migrations import Migration, migrate
from continuum.settings import Settings
from continuum.store.jetstream import JetStreamEventStore

log = logging.getLogger("continuum.service")

JsonHandler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class RequestError(Exception):
    """Raised by a handler to answer a request with a client error (code 400/404/409)."""

    def __init__(self, message: str, code: int = 400) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ServiceContext:
    """Everything a running service's handlers may use."""

    settings: Settings
    identity: NodeIdentity
    nc: Client
    pool: asyncpg.Pool
    codec: EventCodec
    store: JetStreamEventStore
    factory: EventFactory
    micro: MicroService
    runners: dict[str, ProjectionRunner] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    async def endpoint(self, name: str, subject: str, handler: JsonHandler) -> None:
        await self.micro.add_endpoint(
            EndpointConfig(name=name, subject=subject, handler=_json_endpoint(subject, handler))
        )

    async def redrive_endpoint(
        self, consumer: str, redrive: Callable[[DeadLetter], Awaitable[None]]
    ) -> None:
        """Answer ``cmd.dlq.<consumer>.redrive`` ({"dlq_seq": N}): hand that dead
        letter to ``redrive``, which processes it again (at most once) and
        removes it, or raises EventError if it is still rejected (409)."""
        dlq = DeadLetterQueue(self.nc)

        async def handle(body: dict[str, Any]) -> dict[str, Any]:
            seq = body.get("dlq_seq")
            if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
                raise RequestError("dlq_seq must be a positive integer")
            try:
                letter = await dlq.get(seq)
            except KeyError as exc:
                raise RequestError(str(exc).strip("'\""), 404) from None
            if letter.consumer != consumer:
                raise RequestError(f"dead letter #{seq} belongs to {letter.consumer}", 409)
            try:
                await redrive(letter)
            except EventError as exc:
                raise RequestError(f"the event is still rejected: {exc}", 409) from None
            return {"redriven": seq}

        slug = consumer.replace("-", "_")
        await self.endpoint(f"{slug}-redrive", f"cmd.dlq.{consumer}.redrive", handle)


def _json_endpoint(subject: str, handler: JsonHandler) -> Callable[[Request], Awaitable[None]]:
    async def handle(request: Request) -> None:
        ctx = telemetry.extract(request.headers)
        with telemetry.tracer().start_as_current_span(subject, context=ctx, kind=SpanKind.SERVER):
            try:
                body = jsoninput.loads(request.data or b"{}", what="the request")
                if not isinstance(body, dict):
                    raise RequestError("request body must be a JSON object")
                reply = await handler(body)
            except jsoninput.UnsafeJson as exc:
                await request.respond_error("400", str(exc))
            except RequestError as exc:
                await request.respond_error(str(exc.code), str(exc))
            except (EventError, ValueError, KeyError) as exc:
                await request.respond_error("400", str(exc).strip("'\""))
            except Exception:
                log.exception("handler for %s failed", subject)
                await request.respond_error("500", "internal error (see the service log)")
            else:
                await request.respond(json.dumps(reply, default=str).encode())

    return handle


class Service:
    """Subclass, set the class attributes, and call ``run_service(MyService)``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    schema: ClassVar[str]
    migrations: ClassVar[Sequence[Migration]] = ()

    def projections(self) -> Sequence[Projection]:
        return ()

    def advertised(self) -> dict[str, str]:
        """What clients should know (e.g. {"url": ...}): in health replies and
        the NATS service metadata, so `continuum status` can show it."""
        return {}

    def dead_letter_consumers(self) -> Sequence[str]:
        """Consumers besides the projections that file dead letters (for metrics)."""
        return ()

    async def on_start(self, ctx: ServiceContext) -> None:
        """Register extra endpoints or background work."""

    async def on_stop(self, ctx: ServiceContext) -> None:
        """Release what on_start took."""

    def health_details(self) -> dict[str, Any]:
        """What this service adds to its health reply (readiness beyond "up")."""
        return {}


async def _health(ctx: ServiceContext, service: Service) -> dict[str, Any]:
    postgres = True
    try:
        async with ctx.pool.acquire(timeout=2) as conn:
            await conn.fetchval("SELECT 1")
    except Exception:
        postgres = False
    projections = {}
    for name, runner in ctx.runners.items():
        try:
            projections[name] = await runner.status()
        except Exception as exc:
            projections[name] = {"error": str(exc)}
    healthy = postgres and ctx.nc.is_connected
    return {
        "service": service.name,
        "status": "ok" if healthy else "degraded",
        "nats": ctx.nc.is_connected,
        "postgres": postgres,
        "pid": os.getpid(),
        "uptime_s": round(time.monotonic() - ctx.started, 1),
        "version": __version__,
        "projections": projections,
        **service.health_details(),
        **service.advertised(),
    }


async def _register_projection_endpoints(ctx: ServiceContext, runner: ProjectionRunner) -> None:
    base = f"cmd.projections.{runner.name}"

    async def rebuild(body: dict[str, Any]) -> dict[str, Any]:
        progress_subject = body.get("progress")
        started = time.monotonic()

        async def report(done: int, total: int) -> None:
            if isinstance(progress_subject, str) and progress_subject:
                await ctx.nc.publish(
                    progress_subject, json.dumps({"done": done, "total": total}).encode()
                )

        events = await runner.rebuild(report)
        return {"projection": runner.name, "events": events, "seconds": time.monotonic() - started}

    async def status(_: dict[str, Any]) -> dict[str, Any]:
        return await runner.status()

    slug = runner.name.replace("-", "_")
    await ctx.endpoint(f"{slug}-rebuild", f"{base}.rebuild", rebuild)
    await ctx.endpoint(f"{slug}-status", f"{base}.status", status)
    await ctx.redrive_endpoint(runner.name, runner.redrive)


async def serve(service: Service, settings: Settings, stop: asyncio.Event) -> None:
    """Run ``service`` until ``stop`` is set."""
    from continuum.node.state import resolve_login, resolve_urls

    identity = NodeIdentity.configured(settings.home, settings.node_key.get_secret_value())
    telemetry.setup_telemetry(f"continuum-{service.name}", identity.node_id)
    nats_url, database_url = resolve_urls(settings)
    login = resolve_login(settings, service.name)
    nc = await connect_nats(nats_url, name=f"continuum-{service.name}", login=login)
    pool = await create_pool(database_url)
    try:
        await migrate(pool, service.schema, service.migrations)
        codec = EventCodec(settings.max_event_bytes, seal_key=identity.seal_key)
        micro = await add_service(
            nc,
            name=service.name,
            version=__version__,
            description=service.description or service.name,
            metadata={"node": identity.node_id, "pid": str(os.getpid()), **service.advertised()},
        )
        ctx = ServiceContext(
            settings=settings,
            identity=identity,
            nc=nc,
            pool=pool,
            codec=codec,
            store=JetStreamEventStore(nc, codec),
            factory=EventFactory(identity, f"/continuum/{identity.short_id}/{service.name}"),
            micro=micro,
        )

        for projection in service.projections():
            runner = ProjectionRunner(projection, nc, pool, codec)
            ctx.runners[projection.name] = runner
            await runner.start()
            await _register_projection_endpoints(ctx, runner)
        service_metrics = ServiceMetrics(nc, ctx.runners, service.dead_letter_consumers())
        try:
            await service.on_start(ctx)

            async def health(_: dict[str, Any]) -> dict[str, Any]:
                return await _health(ctx, service)

            # Last, so that answering the health check means fully started.
            await ctx.endpoint("health", f"cmd.{service.name}.health", health)
            service_metrics.start()
            log.info("service %s ready", service.name)
            await stop.wait()
            log.info("service %s stopping", service.name)
        finally:
            # Also when on_start failed: stop what did start before the
            # connections close under it.
            await service_metrics.stop()
            await service.on_stop(ctx)
            for runner in ctx.runners.values():
                await runner.stop()
            await micro.stop()
    finally:
        with contextlib.suppress(Exception):
            await nc.drain()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(pool.close(), 5)
        telemetry.shutdown_telemetry()


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop where it is installed (services that serve HTTP or heavy NATS
    traffic depend on it: it roughly halves the event loop's own overhead),
    the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def run_service(service_cls: type[Service]) -> None:
    """Process entry point: ``python -m <package>`` calls this."""
    settings = Settings()
    configure_logging(service_cls.name, settings.log_level, settings.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(service_cls(), settings, stop)

    try:
        _event_loop_runner()(main())
    except Exception as exc:
        log.critical("service %s failed: %s", service_cls.name, exc, exc_info=True)
        raise SystemExit(1) from None
