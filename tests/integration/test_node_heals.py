"""A node heals itself: its own servers are SIGKILLed under load and come
back without help, nothing acknowledged is lost, nothing is stored twice
(even when clients re-send past JetStream's dedupe window), and a SIGTERM
stops a node at any moment, start-up included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from node_cli import BIN, cli, exits, state, wait_until

from continuum.ids import uuid7_str
from continuum.node.ports import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANNOTATION = "continuum.mesh.annotation.added.v1"
BATCH = {"Content-Type": "application/cloudevents-batch+json"}
WINDOW_S = 2.0  # the node's JetStream dedupe window in these tests


def _batches(count: int, size: int) -> list[bytes]:
    return [
        json.dumps(
            [
                {
                    "specversion": "1.0",
                    "id": uuid7_str(),
                    "source": "/tests/heal",
                    "type": ANNOTATION,
                    "subject": f"heal{b}",
                    "data": {"text": f"event {b}.{i}"},
                }
                for i in range(size)
            ]
        ).encode()
        for b in range(count)
    ]


class Publisher:
    """A client that posts every batch until it is acknowledged, re-sending
    the same ids after any failure (a 503, a reset, a timeout), as a careful
    client would through an outage."""

    def __init__(self, env: dict[str, str], batches: list[bytes]) -> None:
        home = Path(env["CONTINUUM_HOME"])
        self.url = f"http://127.0.0.1:{env['CONTINUUM_GATEWAY_PORT']}"
        self.token = (home / "admin.token").read_text().strip()
        self.batches = batches
        self.acked: list[list[dict[str, Any]]] = []
        self.failures: list[str] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {**BATCH, "Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as http:
            for body in self.batches:
                deadline = time.monotonic() + 120
                while True:
                    try:
                        response = http.post("/v1/events", content=body)
                        if response.status_code == 200:
                            self.acked.append(response.json()["results"])
                            break
                        self.failures.append(f"{response.status_code} {response.text[:120]}")
                    except httpx.HTTPError as exc:
                        self.failures.append(repr(exc))
                    assert time.monotonic() < deadline, self.failures[-5:]
                    time.sleep(0.1)


def _annotation_count(env: dict[str, str]) -> int:
    url = f"http://127.0.0.1:{env['CONTINUUM_GATEWAY_PORT']}"
    token = (Path(env["CONTINUUM_HOME"]) / "admin.token").read_text().strip()
    stats = httpx.get(
        f"{url}/v1/events/stats", headers={"Authorization": f"Bearer {token}"}, timeout=10
    ).json()
    return next((t["events"] for t in stats["types"] if t["type"] == ANNOTATION), 0)


def _kill_under_load(env: dict[str, str], server: str) -> None:
    env["CONTINUUM_DUPLICATE_WINDOW_S"] = str(WINDOW_S)
    up = cli(env, "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    batches = _batches(100, 100)  # 10,000 events
    publisher = Publisher(env, batches)
    publisher.thread.start()
    wait_until(lambda: len(publisher.acked) >= 20, timeout=60)
    victim = state(env)["servers"][server]
    os.kill(victim, signal.SIGKILL)
    publisher.thread.join(timeout=300)
    assert not publisher.thread.is_alive()
    assert len(publisher.acked) == 100

    # The server is back (a new pid), the exit is on the record, the node is healthy.
    wait_until(lambda: state(env)["servers"].get(server) not in (None, victim), timeout=30)
    wait_until(lambda: cli(env, "status").returncode == 0, timeout=60)
    assert any(e["service"] == server and e["exit_code"] == -9 for e in exits(env))

    # Every acknowledged event is in the read model, once.
    wait_until(lambda: _annotation_count(env) >= 10_000, timeout=120)
    assert _annotation_count(env) == 10_000

    # Re-sending every id past the dedupe window appends nothing.
    time.sleep(WINDOW_S + 1)
    again = Publisher(env, batches)
    again._run()
    seqs = [[r["seq"] for r in results] for results in publisher.acked]
    assert [[r["seq"] for r in results] for results in again.acked] == seqs
    assert all(r["duplicate"] for results in again.acked for r in results)
    time.sleep(1.0)
    assert _annotation_count(env) == 10_000

    # The read model equals a replay of the log (its counts are deliberately not
    # idempotent, so an event applied twice would show).
    replay = cli(env, "events", "replay", "event-log")
    assert replay.returncode == 0, replay.stdout + replay.stderr
    assert _annotation_count(env) == 10_000


def test_a_sigkilled_nats_server_comes_back_and_nothing_is_lost_or_doubled(
    node_env: dict[str, str],
) -> None:
    _kill_under_load(node_env, "nats-server")


def test_a_sigkilled_postgres_comes_back_and_projections_resume(
    node_env: dict[str, str],
) -> None:
    _kill_under_load(node_env, "postgres")


@pytest.mark.parametrize("after_s", [0.3, 1.5, 4.0])
def test_sigterm_stops_a_node_during_start_up(node_env: dict[str, str], after_s: float) -> None:
    up = subprocess.Popen(
        [str(BIN / "continuum"), "up"],
        env=node_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    supervisor = psutil.Process(up.pid)
    time.sleep(after_s)
    children = supervisor.children(recursive=True)
    up.send_signal(signal.SIGTERM)
    started = time.monotonic()
    output, _ = up.communicate(timeout=45)
    assert time.monotonic() - started < 30, output
    # 0 once `up` has its handlers; killed by the signal (-15) if it came
    # before Python even got that far. Either way, nothing is left behind.
    assert up.returncode in (0, -signal.SIGTERM), output
    _, alive = psutil.wait_procs(children, timeout=5)
    assert not alive, [p.pid for p in alive]
    if up.returncode == 0:
        assert "node stopped" in output


def test_status_answers_quickly_when_nats_and_postgres_are_down(
    node_env: dict[str, str],
) -> None:
    """A node whose servers cannot be reached (its record says it runs: this
    test's own pid) gets a table with both marked down within seconds."""
    home = Path(node_env["CONTINUUM_HOME"])
    (home / "run").mkdir(parents=True)
    record = {
        "pid": os.getpid(),
        "node_id": "k" * 52,
        "name": "down-node",
        "nats_url": f"nats://127.0.0.1:{free_port()}",
        "database_url": f"postgresql://postgres@127.0.0.1:{free_port()}/continuum",
        "started_at": "",
        "embedded_nats": True,
        "embedded_postgres": True,
        "services": {"gateway": 0},
        "ready": True,
    }
    state = home / "run" / "node.json"
    state.write_text(json.dumps(record))
    started = time.monotonic()
    try:
        status = cli(node_env, "status", timeout=60)
    finally:
        # The record names this test's own pid: `continuum down` at teardown
        # must not wait a minute for pytest itself to stop.
        state.unlink()
    assert time.monotonic() - started < 15
    assert status.returncode == 1, status.stdout + status.stderr
    assert "Traceback" not in status.stdout + status.stderr
    assert "cannot reach NATS" in status.stdout
    assert "PostgreSQL" in status.stdout and status.stdout.count("down") >= 2
