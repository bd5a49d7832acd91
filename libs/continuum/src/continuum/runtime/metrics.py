"""Metrics every service reports: projection lag and dead letters.

OpenTelemetry's observable gauges are read synchronously at export time,
while the numbers live behind NATS and Postgres round trips; so a small
task refreshes them every ``interval`` seconds and the gauges report the
latest values. It only runs when a metrics exporter is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence

from nats.aio.client import Client
from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from continuum import telemetry
from continuum.projections.runner import ProjectionRunner
from continuum.store.topology import DLQ_STREAM, DLQ_SUBJECT_PREFIX

log = logging.getLogger("continuum.metrics")


def exporting() -> bool:
    """Whether an SDK meter provider (not the API's no-op proxy) is installed."""
    return type(metrics.get_meter_provider()).__module__.startswith("opentelemetry.sdk")


class ServiceMetrics:
    def __init__(
        self,
        nc: Client,
        runners: dict[str, ProjectionRunner],
        dlq_consumers: Sequence[str],
        interval: float = 10.0,
    ) -> None:
        self._js = nc.jetstream(timeout=5)
        self._runners = runners
        self._dlq_consumers = list(dlq_consumers)
        self._interval = interval
        self._lag: dict[str, int] = {}
        self._dead: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        meter = telemetry.meter("continuum.runtime")
        meter.create_observable_gauge(
            "continuum.projection.lag",
            [self._observe_lag],
            unit="{event}",
            description="Events in the log that a projection has not applied yet.",
        )
        meter.create_observable_gauge(
            "continuum.dlq.messages",
            [self._observe_dead],
            unit="{message}",
            description="Dead letters waiting in the DLQ stream, per consumer.",
        )

    def _observe_lag(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"projection": k}) for k, v in self._lag.items()]

    def _observe_dead(self, _: CallbackOptions) -> Iterable[Observation]:
        return [Observation(v, {"consumer": k}) for k, v in self._dead.items()]

    async def refresh(self) -> None:
        for name, runner in self._runners.items():
            status = await runner.status()
            self._lag[name] = sum(
                int(s.get("pending") or 0) for s in status.get("streams", {}).values()
            )
        consumers = [*self._runners, *self._dlq_consumers]
        info = await self._js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_SUBJECT_PREFIX}.>")
        counts = info.state.subjects or {}
        for consumer in consumers:
            self._dead[consumer] = int(counts.get(f"{DLQ_SUBJECT_PREFIX}.{consumer}", 0))

    def start(self) -> None:
        if exporting():
            self._task = asyncio.create_task(self._run(), name="service-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:
                log.debug("metrics refresh failed: %s", exc)
            await asyncio.sleep(self._interval)
