"""Running untrusted code attempts: a subprocess with limits, never the node.

Each run gets a fresh temporary directory as its working directory, an empty
environment, Python in isolated mode, and:

- CPU seconds (RLIMIT_CPU) and a wall-clock timeout; on either the whole
  process group is killed, so a loop or anything it left behind dies;
- an address-space cap (RLIMIT_AS) so unbounded allocation fails inside
  the child, plus a file-size cap and no core dumps;
- an audit hook (PEP 578), installed before the attempt's code is even
  compiled, that refuses sockets, fork/exec/spawn/subprocess, signals to
  other processes, ctypes, and any file opened outside the temporary
  directory except Python's own standard library, read-only.

Rlimits and the process group are enforced by the kernel; the audit hook is
in-process and covers what rlimits cannot (the network and files). Where
the host lets an unprivileged process make namespaces (``unshare`` from
util-linux, user namespaces enabled: most Linux hosts, few containers),
each run also gets its own network namespace (no interface up: no network
at all, whatever the code does), PID namespace (it sees and can signal
only its own processes) and mount namespace, in which the node's own
directories (``hidden_paths``: its home, with its keys) are covered by an
empty read-only tmpfs. The audit hook can be defeated by a determined
CPython exploit; the namespaces cannot, so ``isolation="namespaces"``
refuses to run code on a host without them. The verdict of a refused or
killed run is a failed attempt with the reason, never an exception in the
service.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Literal

#: "auto": namespaces where the host has them; "namespaces": required (no code
#: runs without them); "hook": the audit hook and rlimits only.
Isolation = Literal["auto", "namespaces", "hook"]

#: A user namespace (mapped to the caller's own uid: no new privileges) owning
#: fresh network and PID namespaces, with /proc remounted to show only the run.
NAMESPACES = (
    "unshare",
    "--user",
    "--map-current-user",
    "--net",
    "--pid",
    "--fork",
    "--mount-proc",
    "--kill-child",
)
#: The namespace's PID 1 is a shell: it covers each path before ``--`` with an
#: empty read-only tmpfs (exit 125 if it cannot: nothing runs), then runs the
#: command after it and waits. The attempt must not be PID 1 itself: the kernel
#: does not deliver SIGXCPU (the CPU limit) to a namespace's init. The shell
#: exits with 128 + the signal that killed the attempt.
INIT_SCRIPT = (
    'while [ "$1" != -- ]; do '
    'mount -t tmpfs -o ro,size=4k,mode=000 continuum-hidden "$1" || exit 125; shift; '
    'done; shift; "$@"; exit $?'
)
HIDE_FAILED = 125


def init(hidden: tuple[str, ...] = ()) -> list[str]:
    """The namespace's init: hide ``hidden``, then run what follows."""
    return ["sh", "-c", INIT_SCRIPT, "sh", *hidden, "--"]


@dataclass(frozen=True)
class SandboxLimits:
    cpu_seconds: int = 2
    wall_seconds: float = 5.0
    memory_bytes: int = 512 * 1024 * 1024
    file_bytes: int = 1024 * 1024
    output_bytes: int = 64 * 1024
    max_code_chars: int = 20_000
    isolation: Isolation = "auto"
    #: Directories covered by an empty tmpfs in the run's mount namespace (the
    #: node's home); one holding the interpreter or the run's own directory is kept.
    hidden_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class SandboxResult:
    passed: int
    total: int
    detail: str
    killed: bool = False


BOOTSTRAP = r"""
import io, json, sys
request = json.loads(sys.stdin.readline())
marker, workdir, stdlib = request["marker"], request["workdir"], tuple(request["stdlib"])
BLOCKED = ("socket.", "os.fork", "os.forkpty", "os.system", "os.exec", "os.spawn",
           "os.posix_spawn", "subprocess.", "os.kill", "os.killpg", "signal.pthread_kill",
           "ctypes.", "os.chdir", "os.chroot", "shutil.rmtree", "os.symlink", "os.link")
WRITE_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.chmod",
                "os.chown", "os.utime")

def inside(path, roots):
    import os.path
    try:
        real = os.path.realpath(path if isinstance(path, str) else path.decode())
    except Exception:
        return False
    return any(real == r or real.startswith(r + "/") for r in roots)

def hook(event, args):
    if event.startswith(BLOCKED) or event == "import" and args[0] in ("_ctypes", "_socket"):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open":
        path, mode = args[0], args[1] or "r"
        if isinstance(path, int):
            return
        writing = any(c in str(mode) for c in "wax+")
        if inside(path, (workdir,)) or (not writing and inside(path, stdlib)):
            return
        raise PermissionError(f"sandbox: opening {path!r} is not allowed")
    if event in WRITE_EVENTS and args and not inside(args[0], (workdir,)):
        raise PermissionError(f"sandbox: {event} outside the working directory")

sys.addaudithook(hook)
result = {"passed": 0, "total": len(request["tests"]), "detail": ""}
real_stdout = sys.stdout
sys.stdout = io.StringIO()
try:
    namespace = {"__name__": "attempt"}
    exec(compile(request["code"], "<attempt>", "exec"), namespace)
    function = namespace.get(request["function"])
    if not callable(function):
        result["detail"] = f"no function named {request['function']}"
    else:
        failures = []
        for args, expected in request["tests"]:
            try:
                got = function(*args)
            except BaseException as exc:
                failures.append(f"f{tuple(args)!r} raised {type(exc).__name__}: {exc}"[:200])
                continue
            if got == expected:
                result["passed"] += 1
            else:
                failures.append(f"f{tuple(args)!r} returned {got!r}, expected {expected!r}"[:200])
        result["detail"] = failures[0] if failures else "all tests passed"
except BaseException as exc:
    result["detail"] = f"{type(exc).__name__}: {exc}"[:300]
real_stdout.write("\n" + marker + json.dumps(result) + "\n")
real_stdout.flush()
"""


@functools.cache
def namespaces_available() -> bool:
    """Whether this host lets us make the namespaces and hide a directory in
    them (checked once per process)."""
    with tempfile.TemporaryDirectory(prefix="continuum-sandbox-probe-") as probe_dir:
        try:
            probe = subprocess.run(
                [*NAMESPACES, *init((probe_dir,)), "true"], capture_output=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
    return probe.returncode == 0


def isolation_in_use(isolation: Isolation) -> str:
    """What a run gets under ``isolation`` on this host, in words (logged at start)."""
    if isolation != "hook" and namespaces_available():
        return "network, PID and mount namespaces (the node's home hidden), rlimits, audit hook"
    if isolation == "namespaces":
        return "none: namespaces are required but this host does not allow them"
    return "rlimits and audit hook (no namespaces on this host)"


def _limit(limits: SandboxLimits) -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (limits.memory_bytes, limits.memory_bytes))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_bytes, limits.file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_unit_tests(
    code: str, function: str, tests: list[Any], limits: SandboxLimits | None = None
) -> SandboxResult:
    """Run ``code`` and call ``function`` on each ``[args, expected]`` test."""
    limits = limits or SandboxLimits()
    total = len(tests)
    if len(code) > limits.max_code_chars:
        return SandboxResult(0, total, f"code longer than {limits.max_code_chars} characters")
    use_namespaces = limits.isolation != "hook" and namespaces_available()
    if limits.isolation == "namespaces" and not use_namespaces:
        return SandboxResult(
            0,
            total,
            "not run: the sandbox requires kernel namespaces and this host does not allow "
            "them (isolation 'namespaces'; use 'auto' to fall back to the audit hook)",
        )
    code = _strip_fence(code)
    marker = f"@@continuum-sandbox-{secrets.token_hex(8)}@@"
    # Python's own standard library only (not the environment's prefix, which
    # would let an attempt read every installed package and script).
    paths = sysconfig.get_paths()
    stdlib = sorted({os.path.realpath(paths[k]) for k in ("stdlib", "platstdlib") if paths.get(k)})
    with tempfile.TemporaryDirectory(prefix="continuum-sandbox-") as workdir:
        request = {
            "marker": marker,
            "workdir": os.path.realpath(workdir),
            "stdlib": stdlib,
            "code": code,
            "function": function,
            "tests": tests,
        }
        command = [sys.executable, "-I", "-S", "-c", BOOTSTRAP]
        proc = subprocess.Popen(
            (
                [*NAMESPACES, *init(_hideable(limits.hidden_paths, workdir)), *command]
                if use_namespaces
                else command
            ),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=workdir,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
            start_new_session=True,
            preexec_fn=lambda: _limit(limits),
        )
        started = time.monotonic()
        try:
            out, _ = proc.communicate(json.dumps(request).encode() + b"\n", limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return SandboxResult(
                0, total, f"killed: ran longer than {limits.wall_seconds:g} s", True
            )
        finally:
            _kill_group(proc)  # whatever the attempt may have left running
        elapsed = time.monotonic() - started
    text = out[-limits.output_bytes :].decode(errors="replace")
    if marker not in text:
        signum = _signal_of(proc.returncode)
        if signum:
            name = signal.Signals(signum).name
            why = "CPU limit" if name in ("SIGXCPU", "SIGKILL") else name
            return SandboxResult(0, total, f"killed by {name} ({why}) after {elapsed:.1f} s", True)
        if use_namespaces and proc.returncode == HIDE_FAILED:
            return SandboxResult(0, total, "not run: the sandbox could not hide the node's files")
        return SandboxResult(0, total, f"the attempt crashed (exit code {proc.returncode})", True)
    result = json.loads(text.rsplit(marker, 1)[1].splitlines()[0])
    return SandboxResult(int(result["passed"]), total, str(result["detail"]))


def _hideable(paths: tuple[str, ...], workdir: str) -> tuple[str, ...]:
    """The paths that exist and hold neither the run's directory nor Python itself."""
    keep = [os.path.realpath(workdir), os.path.realpath(sys.executable)]
    keep += [os.path.realpath(p) for p in sysconfig.get_paths().values()]
    out = []
    for path in paths:
        real = os.path.realpath(path)
        if not os.path.isdir(real):
            continue
        if any(k == real or k.startswith(real + os.sep) for k in keep):
            continue
        out.append(real)
    return tuple(out)


def _signal_of(returncode: int | None) -> int:
    """The signal that ended a run: negative from Popen, 128 + n from the namespace's shell."""
    if returncode is None:
        return 0
    number = -returncode if returncode < 0 else returncode - 128 if returncode > 128 else 0
    return number if number in {s.value for s in signal.Signals} else 0


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(1)


def _strip_fence(code: str) -> str:
    """Models like to wrap code in a Markdown fence; the fence is not code."""
    stripped = code.strip()
    if stripped.startswith("```"):
        lines = stripped.splitlines()[1:]
        if lines and lines[-1].strip().startswith("```"):
            lines = lines[:-1]
        return "\n".join(lines)
    return code


# -- a workspace's tests -----------------------------------------------------------------

#: Installed before the workspace's tests are imported (Python test commands): no
#: network, no new processes, no writes outside the worktree and the run's temp dir.
TESTS_BOOTSTRAP = r"""
import os, runpy, sys
roots = (*(os.path.realpath(p) for p in sys.argv[1].split(os.pathsep)), "/dev/null")
module = sys.argv[2]
BLOCKED = ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo",
           "os.fork", "os.forkpty", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
           "subprocess.Popen", "os.kill", "os.killpg", "ctypes.dlopen")
WRITE_EVENTS = ("os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.truncate", "os.symlink")

def inside(path):
    try:
        real = os.path.realpath(path if isinstance(path, str) else os.fsdecode(path))
    except Exception:
        return False
    return any(real == r or real.startswith(r + "/") for r in roots)

def hook(event, args):
    if event.startswith(BLOCKED):
        raise PermissionError(f"sandbox: {event} is not allowed in a workspace's tests")
    if event == "open" and not isinstance(args[0], int):
        if any(c in str(args[1] or "r") for c in "wax+") and not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]!r} is not allowed")
    if event in WRITE_EVENTS and args and not inside(args[0]):
        raise PermissionError(f"sandbox: {event} outside the worktree")

sys.addaudithook(hook)
sys.path.insert(0, os.getcwd())
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    output: str
    seconds: float
    killed: bool = False

    @property
    def passed(self) -> bool:
        return self.exit_code == 0 and not self.killed


def run_tests_command(command: list[str], worktree: str, limits: SandboxLimits) -> CommandResult:
    """Run a workspace's test command in its worktree, under the limits.

    ``python -m MODULE ...`` runs with the node's own interpreter behind the
    audit hook above; any other command runs as it is (rlimits, the process
    group, and the namespaces where the host has them still apply)."""
    use_namespaces = limits.isolation != "hook" and namespaces_available()
    if limits.isolation == "namespaces" and not use_namespaces:
        return CommandResult(
            None, "not run: the sandbox requires kernel namespaces and this host lacks them", 0.0
        )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="continuum-tests-") as scratch:
        argv = list(command)
        if len(argv) >= 3 and argv[0] in ("python", "python3") and argv[1] == "-m":
            roots = os.pathsep.join([os.path.realpath(worktree), os.path.realpath(scratch)])
            argv = [sys.executable, "-I", "-c", TESTS_BOOTSTRAP, roots, argv[2], *argv[3:]]
        if use_namespaces:
            argv = [*NAMESPACES, *init(_hideable(limits.hidden_paths, worktree)), *argv]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": scratch,
            "TMPDIR": scratch,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONHASHSEED": "0",
        }
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=worktree,
                env=env,
                start_new_session=True,
                preexec_fn=lambda: _limit(limits),
            )
        except OSError as exc:
            return CommandResult(None, f"cannot run {command[0]!r}: {exc}", 0.0)
        try:
            out, _ = proc.communicate(timeout=limits.wall_seconds)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out = b""
            with contextlib.suppress(subprocess.TimeoutExpired, ValueError):
                out, _ = proc.communicate(timeout=2)  # what it wrote before it was killed
            tail = out[-limits.output_bytes :].decode(errors="replace")
            return CommandResult(
                None,
                f"killed: the tests ran longer than {limits.wall_seconds:g} s\n{tail}".strip(),
                time.monotonic() - started,
                killed=True,
            )
        finally:
            _kill_group(proc)
    text = out[-limits.output_bytes :].decode(errors="replace")
    seconds = time.monotonic() - started
    signum = _signal_of(proc.returncode)
    if signum:
        name = signal.Signals(signum).name
        return CommandResult(None, f"killed by {name}\n{text}".strip(), seconds, killed=True)
    return CommandResult(proc.returncode, text, seconds)
