"""Cleaning up after a node that did not stop cleanly.

Servers and services run in their own sessions (so Ctrl-C reaches only the
supervisor, which stops them in order). If the supervisor itself is killed,
they keep running; the next ``continuum up`` on the same home finds them here
and stops them before starting fresh ones.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable
from pathlib import Path

import psutil

from continuum.node.state import read_state


def _stop(
    processes: Iterable[psutil.Process], timeout: float = 10.0, sig: int = signal.SIGTERM
) -> list[int]:
    procs = list(processes)
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    return [p.pid for p in procs]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return list(proc.cmdline())
    except psutil.Error:
        return []


def reap_orphans(home: Path) -> list[int]:
    """Stop servers and services left by a dead node of ``home``; return their pids.

    Call only while holding the node lock, so no live node owns them.
    """
    services: dict[int, psutil.Process] = {}
    state = read_state(home)
    if state is not None and not psutil.pid_exists(state.pid):
        for pid in state.services.values():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if "-m" in _cmdline(proc):
                    services[pid] = proc
    # Services first, so that no client holds the servers up; then the servers.
    stopped = _stop(services.values()) if services else []
    # nats-server runs with our config file; the postmaster with our data dir
    # (its children rewrite their command lines and exit with it).
    nats_conf, pg_data = str(home / "nats" / "nats.conf"), str(home / "postgres" / "data")
    nats, postgres = [], []
    for proc in psutil.process_iter():
        cmdline = _cmdline(proc)
        if nats_conf in cmdline:
            nats.append(proc)
        elif pg_data in cmdline:
            postgres.append(proc)
    # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients (a
    # "smart" SIGTERM would, and a postmaster killed after waiting leaves its
    # pid file behind, so the next one refuses to start).
    stopped += _stop(postgres, sig=signal.SIGINT) if postgres else []
    stopped += _stop(nats) if nats else []
    return stopped
