"""Code loop benchmark: what a proposal costs, from its diff to its test result,
on the fixture repository of the end-to-end test (``tests/rooms/fixtures``).

Side by side in one run, alternating, medians of N:

- direct: the workspace's tests run as a developer runs them
  (``python -m pytest -q`` in the checkout), the baseline;
- check: what answering the proposal waits for (the patch's paths checked, a
  temporary worktree made, ``git apply --check``, the worktree removed);
- tested: the academy's test run of it (a fresh worktree of the base commit,
  the patch applied, the tests in the sandbox: namespaces where the host has
  them, rlimits, the audit hook; the worktree removed);
- loop: check then tested, what the executor does between a proposal's
  arrival and its ``ProposalTested`` event (the event appends and the NATS
  request add milliseconds: see the backbone section).

Usage: python tests/benchmarks/bench_code.py [--runs N] [--write docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from continuum.code import git
from continuum_academy.code import runner
from continuum_academy.sandbox import SandboxLimits, isolation_in_use

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1] / "rooms"))
from bench_common import write_section
from code_fixture import TO_ASYNC, fixture_repository

console = Console()
LIMITS = SandboxLimits(cpu_seconds=300, wall_seconds=300, memory_bytes=2 << 30, file_bytes=64 << 20)


def timed(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def bench(runs: int) -> dict[str, list[float]]:
    patch = TO_ASYNC
    samples: dict[str, list[float]] = {"direct": [], "check": [], "tested": [], "loop": []}
    with tempfile.TemporaryDirectory(prefix="bench-code-") as scratch:
        repo = fixture_repository(Path(scratch) / "shop")
        base = git.head(repo)
        command = list(runner.DEFAULT_TEST_COMMAND)

        def direct() -> None:
            done = subprocess.run(
                [sys.executable, *command[1:]], cwd=repo, capture_output=True, check=False
            )
            assert done.returncode == 0, done.stdout

        def check() -> None:
            runner.check(repo, patch)

        def tested() -> None:
            result = runner.run_tests(repo, base, patch, command, LIMITS)
            assert result.passed, result.output

        def loop() -> None:
            check()
            tested()

        for i in range(runs):
            order = [("direct", direct), ("check", check), ("tested", tested), ("loop", loop)]
            for name, run in order if i % 2 == 0 else list(reversed(order)):
                samples[name].append(timed(run))
            console.print(f"  run {i + 1} of {runs}")
    return samples


def render(samples: dict[str, list[float]], command: str) -> str:
    direct = statistics.median(samples["direct"])
    rows = [
        ("direct", "the tests as a developer runs them (python -m pytest -q in the checkout)"),
        ("check", "the proposal answered: paths checked, worktree, git apply --check"),
        ("tested", "the academy's test run: fresh worktree, patch applied, sandboxed tests"),
        ("loop", "check then tested: a proposal's arrival to its ProposalTested event"),
    ]
    loop = statistics.median(samples["loop"])
    lines = [
        "## Code loop (a proposal's diff to its test result)",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {len(samples['direct'])} runs each, alternating, medians; "
        f"sandbox: {isolation_in_use('auto')}.",
        "",
        "The fixture repository of the end-to-end test (a client module and its test), the "
        "proposal that makes `fetch_all` async.",
        "",
        "| step | median, ms | / direct |",
        "|---|---:|---:|",
        *(
            f"| {label} | {statistics.median(samples[name]):.0f} "
            f"| {statistics.median(samples[name]) / direct:.2f} |"
            for name, label in rows
        ),
        "",
        f"The loop's overhead over running the tests directly: {loop - direct:.0f} ms "
        f"(worktrees, the apply check and the sandbox's start).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    samples = bench(args.runs)
    command = "make bench" if args.write else " ".join(["python", *sys.argv])
    section = render(samples, command)
    console.print(section)
    if args.write:
        write_section(args.write, "code", section)


if __name__ == "__main__":
    main()
