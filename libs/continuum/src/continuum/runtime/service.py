"""The base every Continuum service runs on.

A service declares its name, Postgres schema, migrations, projections and
request/reply endpoints; ``run_service`` does the rest: settings, logging,
tracing, the FastStream broker (its NATS connection), the Postgres pool,
migrations, projection runners, the NATS service API (so
``$SRV.PING/INFO/STATS`` find it), a ``cmd.<service>.health`` endpoint and
a graceful shutdown on SIGTERM/SIGINT. Handlers receive messages only
through the broker: commands (``continuum.runtime.commands``), followed
streams (``continuum.runtime.follow``) and signals (``ServiceContext.subscribe``).
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
from typing import Any, ClassVar, TypeVar

import asyncpg
from faststream.nats import NatsBroker
from faststream.nats.annotations import NatsMessage
from nats.aio.client import Client
from pydantic import BaseModel

from continuum import __version__, contracts, telemetry
from continuum.contracts import Command
from continuum.events.codec import EventCodec, EventFactory
from continuum.events.errors import EventError
from continuum.identity import NodeIdentity
from continuum.logs import configure_logging
from continuum.natsauth.permissions import is_inbox
from continuum.projections.deadletters import DeadLetter, DeadLetterQueue
from continuum.projections.projection import Projection
from continuum.projections.runner import ProjectionRunner
from continuum.runtime.broker import create_broker
from continuum.runtime.commands import Commands, JsonHandler, RequestError
from continuum.runtime.connections import create_pool
from continuum.runtime.follow import Handler, History, LogFollower
from continuum.runtime.metrics import ServiceMetrics
from continuum.runtime.micro import ServiceApi, ServiceInfo
from continuum.runtime.migrations import Migration, migrate
from continuum.runtime.replies import decode_request, taking
from continuum.runtime.requests import ask
from continuum.settings import Settings
from continuum.store.jetstream import JetStreamEventStore

log = logging.getLogger("continuum.service")

__all__ = ["JsonHandler", "RequestError", "Service", "ServiceContext", "run_service", "serve"]

Signal = TypeVar("Signal", bound=BaseModel)


@dataclass
class ServiceContext:
    """Everything a running service's handlers may use."""

    settings: Settings
    identity: NodeIdentity
    broker: NatsBroker
    pool: asyncpg.Pool
    codec: EventCodec
    store: JetStreamEventStore
    factory: EventFactory
    commands: Commands
    history: History = field(default_factory=History)
    #: Where this process's replies and pull-consumer deliveries arrive
    #: (FastStream's pull subscribers default to ``_INBOX.``, which external
    #: tools may read: pass this as their ``inbox_prefix``).
    inbox_prefix: bytes = b"_INBOX."
    runners: dict[str, ProjectionRunner] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    @property
    def nc(self) -> Client:
        """The broker's connection, for what FastStream has no API for: event
        appends with an expected sequence, the Object Store, stream info."""
        return self.broker.connection

    async def command(self, command: Command, handler: Callable[[Any], Awaitable[Any]]) -> None:
        """Answer one of this service's ``continuum.contracts`` commands:
        ``handler`` takes its request model (``as_object`` adapts a handler
        that reads a JSON object)."""
        await self.commands.serve(command, handler)

    async def request(
        self, subject: str, body: dict[str, Any], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Ask another service's command (through the broker, so the request
        joins the current trace); raises ``ServiceRequestError``/``NoService``."""
        return await ask(self.broker, subject, body, timeout)

    def follower(self, stream: str, subject: str, handler: Handler) -> LogFollower:
        """Replay ``stream`` then follow it (``start()`` it)."""
        return LogFollower(self.broker, self.codec, stream, subject, handler, self.history)

    async def subscribe(
        self,
        subject: str,
        message: type[Signal],
        handler: Callable[[str, Signal], Awaitable[None]],
        *,
        summary: str = "",
    ) -> None:
        """Receive the signal ``message`` on core NATS ``subject`` (every
        instance gets each one): ``handler(subject, message)``. A message its
        model refuses is dropped (signals are advisory; nobody waits for an
        answer)."""
        subscriber = self.broker.subscriber(
            subject, decoder=decode_request, title=subject, description=summary
        )

        async def receive(body: Any, msg: NatsMessage) -> None:
            await handler(msg.raw_message.subject, body)

        subscriber(taking(message, receive))
        await subscriber.start()

    async def redrive_endpoint(
        self, consumer: str, redrive: Callable[[DeadLetter], Awaitable[None]]
    ) -> None:
        """Answer ``cmd.dlq.<consumer>.redrive`` ({"dlq_seq": N}): hand that dead
        letter to ``redrive``, which processes it again (at most once) and
        removes it, or raises EventError if it is still rejected (409)."""
        dlq = DeadLetterQueue(self.nc)

        async def handle(request: contracts.Redrive) -> contracts.Redriven:
            seq = request.dlq_seq
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
            return contracts.Redriven(redriven=seq)

        await self.command(contracts.redrive(consumer), handle)


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
    connected = ctx.nc.is_connected
    healthy = postgres and connected
    return {
        "service": service.name,
        "status": "ok" if healthy else "degraded",
        "nats": connected,
        "postgres": postgres,
        "pid": os.getpid(),
        "uptime_s": round(time.monotonic() - ctx.started, 1),
        "version": __version__,
        "projections": projections,
        **service.health_details(),
        **service.advertised(),
    }


async def _register_projection_endpoints(ctx: ServiceContext, runner: ProjectionRunner) -> None:
    rebuild_command, status_command, _ = contracts.projection_commands(runner.name)

    async def rebuild(request: contracts.Rebuild) -> contracts.Rebuilt:
        progress_subject = request.progress
        started = time.monotonic()

        async def report(done: int, total: int) -> None:
            if progress_subject and is_inbox(progress_subject):
                progress = json.dumps({"done": done, "total": total}).encode()
                await ctx.broker.publish(progress, progress_subject)

        events = await runner.rebuild(report)
        seconds = time.monotonic() - started
        return contracts.Rebuilt(projection=runner.name, events=events, seconds=seconds)

    async def status(_: contracts.Empty) -> dict[str, Any]:
        return await runner.status()

    await ctx.command(rebuild_command, rebuild)
    await ctx.command(status_command, status)
    await ctx.redrive_endpoint(runner.name, runner.redrive)


async def serve(service: Service, settings: Settings, stop: asyncio.Event) -> None:
    """Run ``service`` until ``stop`` is set."""
    from continuum.node.state import resolve_login, resolve_urls

    identity = NodeIdentity.configured(settings.home, settings.node_key.get_secret_value())
    telemetry.setup_telemetry(f"continuum-{service.name}", identity.node_id)
    nats_url, database_url = resolve_urls(settings)
    login = resolve_login(settings, service.name)
    history = History()
    broker = create_broker(
        nats_url, f"continuum-{service.name}", login=login, replaying=history.replaying
    )
    await broker.start()
    nc = broker.connection
    pool = await create_pool(database_url)
    try:
        await migrate(pool, service.schema, service.migrations)
        codec = EventCodec(settings.max_event_bytes, seal_key=identity.seal_key)
        commands = Commands(broker, queue=service.name)
        info = ServiceInfo(
            name=service.name,
            version=__version__,
            description=service.description or service.name,
            metadata={"node": identity.node_id, "pid": str(os.getpid()), **service.advertised()},
        )
        await ServiceApi(info, commands).start(broker)
        ctx = ServiceContext(
            settings=settings,
            identity=identity,
            broker=broker,
            pool=pool,
            codec=codec,
            store=JetStreamEventStore(nc, codec),
            factory=EventFactory(identity, f"/continuum/{identity.short_id}/{service.name}"),
            commands=commands,
            history=history,
            inbox_prefix=f"{login.inbox_prefix if login else '_INBOX'}.".encode(),
        )

        for projection in service.projections():
            runner = ProjectionRunner(projection, nc, pool, codec)
            ctx.runners[projection.name] = runner
            await runner.start()
            await _register_projection_endpoints(ctx, runner)
        service_metrics = ServiceMetrics(nc, ctx.runners, service.dead_letter_consumers())
        try:
            await service.on_start(ctx)

            async def health(_: contracts.Empty) -> dict[str, Any]:
                return await _health(ctx, service)

            # Last, so that answering the health check means fully started.
            await ctx.command(contracts.health(service.name), health)
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
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()
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
