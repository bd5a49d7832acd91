"""The code sandbox: right answers pass; hostile attempts are killed or refused,
reported as failed attempts, and leave the node (this process, its files,
its children) untouched."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from continuum_academy import sandbox
from continuum_academy.sandbox import (
    NAMESPACES,
    SandboxLimits,
    init,
    isolation_in_use,
    namespaces_available,
    run_unit_tests,
)

TESTS = [[[1], 2], [[5], 6]]
LIMITS = SandboxLimits(cpu_seconds=2, wall_seconds=4.0, memory_bytes=256 * 1024 * 1024)


def run(code: str) -> tuple[int, str, bool]:
    result = run_unit_tests(code, "f", TESTS, LIMITS)
    return result.passed, result.detail, result.killed


def test_a_right_answer_passes_and_a_wrong_one_says_what_failed() -> None:
    assert run("def f(x):\n    return x + 1") == (2, "all tests passed", False)
    passed, detail, _ = run("def f(x):\n    return x")
    assert passed == 0 and "returned 1, expected 2" in detail
    assert run("```python\ndef f(x):\n    return x + 1\n```")[0] == 2
    assert "SyntaxError" in run("def f(x) return")[1]
    assert "no function named f" in run("g = 1")[1]


def test_an_endless_loop_is_killed_by_the_cpu_limit() -> None:
    started = time.monotonic()
    passed, detail, killed = run("def f(x):\n    while True:\n        pass")
    assert passed == 0 and killed and "killed" in detail
    assert time.monotonic() - started < 6


def test_a_sleeping_attempt_is_killed_by_the_wall_clock() -> None:
    passed, detail, killed = run("import time\ntime.sleep(60)")
    assert passed == 0 and killed and "longer than 4 s" in detail


def test_unbounded_allocation_fails_inside_the_child() -> None:
    passed, detail, _ = run("def f(x):\n    a = []\n    while True:\n        a.append(' ' * 10**7)")
    assert passed == 0 and ("MemoryError" in detail or "killed" in detail), detail


def test_fork_subprocess_and_system_are_refused() -> None:
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    for code in (
        "import os\nos.fork()",
        "import subprocess\nsubprocess.run(['true'])",
        "import os\nos.system('touch /tmp/pwned')",
        "import os\nos.kill(1, 9)",
    ):
        passed, detail, _ = run(code)
        assert passed == 0 and "not allowed" in detail, (code, detail)
    after = {p.pid for p in psutil.Process().children(recursive=True)}
    assert after <= before


def test_files_outside_the_temporary_directory_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("node secret")
    passed, detail, _ = run(f"def f(x):\n    return open({str(secret)!r}).read()")
    assert passed == 0 and "not allowed" in detail
    passed, detail, _ = run("open('/etc/passwd').read()")
    assert "not allowed" in detail
    import continuum_academy

    package = Path(continuum_academy.__file__)  # installed code is not the stdlib
    assert "not allowed" in run(f"open({str(package)!r}).read()")[1]
    # The standard library is importable (read-only).
    assert run("import json, collections\ndef f(x):\n    return json.loads(str(x)) + 1")[0] == 2
    victim = tmp_path / "victim"
    victim.write_text("keep")
    run(f"import os\nos.remove({str(victim)!r})")
    assert victim.read_text() == "keep"
    # Its own temporary directory is fine.
    ok = (
        "def f(x):\n    open('scratch', 'w').write(str(x))\n"
        "    return int(open('scratch').read()) + 1"
    )
    assert run(ok)[0] == 2


def test_sockets_are_refused() -> None:
    for code in (
        "import socket\nsocket.create_connection(('127.0.0.1', 4222))",
        "import socket\ns = socket.socket()",
        "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:1')",
    ):
        passed, detail, _ = run(code)
        assert passed == 0 and "not allowed" in detail, (code, detail)


def test_the_environment_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTINUUM_TOKEN", "secret-token")
    code = "import os\ndef f(x):\n    return len(os.environ.get('CONTINUUM_TOKEN', '')) + x + 1"
    assert run(code)[0] == 2
    assert os.environ["CONTINUUM_TOKEN"] == "secret-token"


needs_namespaces = pytest.mark.skipif(
    not namespaces_available(), reason="this host does not allow unprivileged namespaces"
)
#: Returns x + 1 when the attempt sees at most its shell and itself in /proc.
COUNT_PROCESSES = (
    "import os\n"
    "def f(x):\n"
    "    seen = [p for p in os.listdir('/proc') if p.isdigit()]\n"
    "    return x + 1 if len(seen) <= 2 else -len(seen)"
)


@needs_namespaces
def test_with_namespaces_an_attempt_sees_only_its_own_processes() -> None:
    assert run(COUNT_PROCESSES)[0] == 2
    hook_only = replace(LIMITS, isolation="hook")  # the host's processes, for contrast
    assert run_unit_tests(COUNT_PROCESSES, "f", TESTS, hook_only).passed == 0


@needs_namespaces
def test_the_network_namespace_holds_even_for_code_the_audit_hook_never_sees() -> None:
    """The hook is in-process Python; the namespace is the kernel's. Code run in
    the namespace without the hook still cannot reach a port open on the host."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            f"try:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError as exc:\n    print('refused', exc)"
        )
        outside = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        inside = subprocess.run(
            [*NAMESPACES, *init(), sys.executable, "-c", code], capture_output=True, text=True
        )
    assert outside.stdout.startswith("connected")
    assert inside.stdout.startswith("refused") and "unreachable" in inside.stdout


def test_required_namespaces_on_a_host_without_them_run_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(sandbox, "namespaces_available", lambda: False)
    marker = tmp_path / "ran"
    code = f"open({str(marker)!r}, 'w')\ndef f(x):\n    return x + 1"
    result = run_unit_tests(code, "f", TESTS, replace(LIMITS, isolation="namespaces"))
    assert result.passed == 0 and "requires kernel namespaces" in result.detail
    assert not marker.exists()
    assert "namespaces are required" in isolation_in_use("namespaces")
    assert run_unit_tests(code.replace(str(marker), "scratch"), "f", TESTS, LIMITS).passed == 2


@needs_namespaces
def test_the_nodes_home_is_hidden_even_from_code_the_audit_hook_never_sees(
    tmp_path: Path,
) -> None:
    home = tmp_path / "node-home"
    home.mkdir()
    (home / "identity.key").write_text("node secret")
    code = (
        "import os, sys\n"
        "try:\n    print(open(sys.argv[1]).read())\n"
        "except OSError as exc:\n    print('hidden', type(exc).__name__)\n"
        "print(sorted(os.listdir(os.path.dirname(sys.argv[1]))))"
    )
    key = str(home / "identity.key")
    inside = subprocess.run(
        [*NAMESPACES, *init((str(home),)), sys.executable, "-c", code, key],
        capture_output=True,
        text=True,
    )
    assert inside.stdout.splitlines() == ["hidden FileNotFoundError", "[]"], inside
    assert (home / "identity.key").read_text() == "node secret"  # only hidden, inside
    # Through the sandbox (hook and namespace): refused, and the run still works.
    limits = replace(LIMITS, hidden_paths=(str(home), "/does/not/exist"))
    leak = f"def f(x):\n    return len(open({key!r}).read()) + x + 1"
    assert run_unit_tests(leak, "f", TESTS, limits).passed == 0
    assert run_unit_tests("def f(x):\n    return x + 1", "f", TESTS, limits).passed == 2


@needs_namespaces
def test_a_hidden_path_holding_python_or_the_run_is_kept_visible() -> None:
    limits = replace(LIMITS, hidden_paths=("/", sys.prefix, os.path.dirname(sys.executable)))
    assert run_unit_tests("def f(x):\n    return x + 1", "f", TESTS, limits).passed == 2


HOSTILE_TESTS = """
import os, socket, subprocess


def test_fork_bomb():
    while True:
        os.fork()


def test_subprocess():
    subprocess.run(["true"])


def test_socket():
    socket.create_connection(("127.0.0.1", 80), timeout=1)


def test_write_outside():
    with open("/tmp/continuum-escaped.txt", "w") as f:
        f.write("x")


def test_fine(tmp_path):
    (tmp_path / "ok.txt").write_text("inside the run's own temporary directory")
"""


def test_a_workspaces_hostile_tests_fail_with_the_reason_and_touch_nothing(
    tmp_path: Path,
) -> None:
    """A proposal's tests run behind the hook: no processes, no network, no writes
    outside the worktree (one pytest run, so the suite pays one interpreter start)."""
    (tmp_path / "test_hostile.py").write_text(HOSTILE_TESTS)
    command = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    limits = SandboxLimits(cpu_seconds=60, wall_seconds=60, memory_bytes=2 << 30)
    result = sandbox.run_tests_command(command, str(tmp_path), limits)
    assert not result.passed and result.exit_code == 1 and not result.killed
    assert "4 failed, 1 passed" in result.output
    for refused in ("os.fork", "subprocess.Popen", "socket.", "writing '/tmp/continuum"):
        assert f"PermissionError: sandbox: {refused}" in result.output, refused
    assert not Path("/tmp/continuum-escaped.txt").exists()
