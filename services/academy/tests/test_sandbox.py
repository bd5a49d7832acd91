"""The code sandbox: right answers pass; hostile attempts are killed or refused,
reported as failed attempts, and leave the node (this process, its files,
its children) untouched."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest

from continuum_academy.sandbox import SandboxLimits, run_unit_tests

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
