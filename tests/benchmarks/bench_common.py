"""What the benchmark scripts share: fresh servers, percentiles, the report file."""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nats

from continuum.node.embedded import NatsServer, PostgresServer
from continuum.node.ports import free_port
from continuum.store import Topology

MAX_BYTES = 64 * 1024


class Servers:
    """A fresh NATS server (streams declared) and a fresh database per use."""

    def __init__(self, pg: PostgresServer) -> None:
        self.pg = pg
        self.tmp = Path(tempfile.mkdtemp(prefix="bench-nats-"))
        self.nats = NatsServer(self.tmp, port=free_port(), server_name="bench")
        self.db = f"bench_{time.time_ns()}"

    async def __aenter__(self) -> Servers:
        self.nats.start()
        self.dsn = self.pg.create_database(self.db)
        self.nc = await nats.connect(self.nats.url)
        await Topology(MAX_BYTES).bootstrap(self.nc.jetstream())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.nc.close()
        self.nats.stop()
        self.pg.drop_database(self.db)
        shutil.rmtree(self.tmp, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """One PostgreSQL server for a whole benchmark run (see stop_postgres)."""
    pg = PostgresServer(
        Path(tempfile.mkdtemp(prefix="bench-pg-")), port=free_port(), database="postgres"
    )
    pg.start()
    return pg


def stop_postgres(pg: PostgresServer) -> None:
    pg.stop()
    shutil.rmtree(pg.root, ignore_errors=True)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    """Median and p99, in milliseconds, of latencies in seconds."""
    q = statistics.quantiles(latencies, n=100)
    return statistics.median(latencies) * 1000, q[98] * 1000


def write_section(path: Path, name: str, section: str) -> None:
    """Replace (or append) this benchmark's section of the report."""
    begin, end = f"<!-- bench:{name}:begin -->", f"<!-- bench:{name}:end -->"
    text = path.read_text() if path.exists() else "# Benchmarks\n\nProduced by `make bench`.\n\n"
    block = f"{begin}\n{section}{end}\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) + 1 :]
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
