"""The README, walked top to bottom as a new user would, on a fresh node.

Every ``sh`` block runs in order in one shell (so a variable one command sets,
like ``SESSION=$(...)``, is there for the next), with the CLI on PATH and
HOME a fresh directory, so ``~/.continuum`` is a new node's home. What the
README itself marks is the only thing treated differently:

* a block after ``<!-- walkthrough: skip, needs ... -->`` is not run (Docker,
  Kubernetes, the developer's own test runs);
* the quick start's ``make up`` runs in the background for every block
  below it, and its ``make test`` is this very run;
* a command whose comment says ``(Ctrl-C)`` follows something live: it runs
  for a few seconds and is then interrupted, as a user would;
* a command whose comment says ``needs Ollama`` is not run.

The node runs on free ports, so the README's default ``127.0.0.1:8080`` is
rewritten to the gateway's port; and at the tiny model preset, so the first
``up`` builds the built-in model in seconds, and a training budget sized for
the small model's steps (``--cpu-minutes 3``) is cut tenfold
(``TINY_BUDGETS``): the tiny model's steps are about 5x cheaper, and what the
walkthrough needs is a published layer for the commands after it.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from node_cli import BIN, cli, wait_until

from continuum.node.ports import free_port
from continuum.testing.processes import clean_environment

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
_DIRECTIVE = re.compile(r"^<!-- walkthrough: (?P<what>.+?) -->$")
FOLLOW_S = 3
#: README budget -> the walkthrough's, at the tiny preset.
TINY_BUDGETS = {"--cpu-minutes 3 ": "--cpu-minutes 0.3 "}


@dataclass(frozen=True)
class Command:
    line: int
    text: str

    @property
    def follows(self) -> bool:
        return "(Ctrl-C)" in self.text

    @property
    def skipped(self) -> bool:
        return "needs Ollama" in self.text


@dataclass(frozen=True)
class Block:
    line: int
    commands: tuple[Command, ...]
    directive: str


def _complete(command: str) -> bool:
    """Whether ``command`` has no quote left open (a JSON body spans lines)."""
    try:
        shlex.split(command, comments=True)
    except ValueError:
        return False
    return True


def readme_blocks(text: str) -> list[Block]:
    """The ``sh`` blocks in order, continuation lines joined, each with the
    walkthrough directive just above it (if any)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        above = next((ln.strip() for ln in reversed(lines[:i]) if ln.strip()), "")
        match = _DIRECTIVE.match(above)
        start = i + 1
        commands: list[Command] = []
        i += 1
        while lines[i].strip() != "```":
            first, text_ = i + 1, lines[i]
            while text_.rstrip().endswith("\\") or not _complete(text_):
                i += 1
                text_ += "\n" + lines[i]
            if text_.strip():
                commands.append(Command(first, text_))
            i += 1
        blocks.append(Block(start, tuple(commands), match["what"] if match else ""))
        i += 1
    return blocks


def test_the_readme_parses_into_runnable_blocks() -> None:
    blocks = readme_blocks(README.read_text())
    assert blocks[0].directive.startswith("`make up` runs in the background")
    assert [c.text.split()[:2] for c in blocks[0].commands] == [["make", "up"], ["make", "test"]]
    skipped = [b.directive for b in blocks if b.directive.startswith("skip")]
    assert any("Docker" in d for d in skipped) and any("Kubernetes" in d for d in skipped)
    run = [c for b in blocks if not b.directive for c in b.commands]
    assert any(c.follows for c in run) and any(c.skipped for c in run)
    assert all("<" not in c.text.split("#")[0] for c in run), "placeholders cannot run"
    # Every budget the walkthrough cuts for the tiny model is still in the README.
    assert all(any(b in c.text for c in run) for b in TINY_BUDGETS), TINY_BUDGETS


def _script(blocks: list[Block], gateway_port: int) -> str:
    """One bash script: each command announced, run, and stopped at on failure."""
    out = ["set -u", 'fail() { echo "@@ README line $1 failed with exit $2"; exit 1; }']
    for block in blocks:
        if block.directive:
            continue
        for command in block.commands:
            if command.skipped:
                out.append(f"echo '@@ README line {command.line} skipped (needs Ollama)'")
                continue
            text = command.text.replace("127.0.0.1:8080", f"127.0.0.1:{gateway_port}")
            for readme, tiny in TINY_BUDGETS.items():
                text = text.replace(readme, tiny)
            # The clock before each command: walkthrough.log says where the time goes.
            announce = shlex.quote(f"README line {command.line}: {text}")
            out.append(f'echo "@@ at $EPOCHREALTIME" {announce}')
            if command.follows:
                inner = shlex.quote(text.split(" #")[0])
                out.append(f"timeout -s INT {FOLLOW_S} bash -c {inner}")
                out.append(f"rc=$?; [ $rc -eq 0 ] || [ $rc -eq 124 ] || fail {command.line} $rc")
            else:
                out.append(text)
                out.append(f"rc=$?; [ $rc -eq 0 ] || fail {command.line} $rc")
    out.append("echo '@@ walkthrough complete'")
    return "\n".join(out) + "\n"


@pytest.fixture
def user(tmp_path: Path) -> dict[str, str]:
    """A new user's shell: a fresh HOME, the CLI on PATH, a node on free ports."""
    env = clean_environment()
    env.update(
        {
            "HOME": str(tmp_path / "home"),
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "CONTINUUM_NATS_PORT": str(free_port()),
            "CONTINUUM_POSTGRES_PORT": str(free_port()),
            "CONTINUUM_GATEWAY_PORT": str(free_port()),
            "CONTINUUM_PERSONA_MODEL_PRESET": "tiny",
            "CONTINUUM_ACADEMY_THREADS": "1",
            "OLLAMA_HOST": f"http://127.0.0.1:{free_port()}",  # no Ollama here
            "COLUMNS": "80",
        }
    )
    (tmp_path / "home").mkdir()
    return env


def test_every_command_in_the_readme_works_in_order(user: dict[str, str], tmp_path: Path) -> None:
    blocks = readme_blocks(README.read_text())
    quick_start = blocks[0]
    assert quick_start.commands[0].text.split("#")[0].strip() == "make up"
    # `make up`, exactly as typed, in the background: it serves the rest.
    node = subprocess.Popen(
        ["make", "up"],
        cwd=ROOT,
        env=user,
        stdout=(tmp_path / "make-up.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: cli(user, "status").returncode == 0, timeout=300)
        work = tmp_path / "work"
        work.mkdir()
        script = _script(blocks[1:], int(user["CONTINUUM_GATEWAY_PORT"]))
        (tmp_path / "walkthrough.sh").write_text(script)
        done = subprocess.run(
            ["bash", str(tmp_path / "walkthrough.sh")],
            cwd=work,
            env=user,
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        transcript = done.stdout + done.stderr
        (tmp_path / "walkthrough.log").write_text(transcript)
        assert done.returncode == 0 and "@@ walkthrough complete" in done.stdout, transcript[-6000:]
        # What the README promises along the way, beyond every command succeeding:
        assert (work / "asyncapi.json").exists()
        assert (work / "zed-copy" / "adapter_model.safetensors").exists()
        assert list((work / "report").glob("*.png"))
        assert (work / "report" / "self-training.csv").exists()  # the tables, not only plots
        assert "did not bid in time" not in transcript
        # Third-party noise is silenced at its source, in the CLI as in the services.
        for noise in ("Loading weights", "UserWarning", "FutureWarning", "Traceback"):
            assert noise not in transcript, noise
    finally:
        cli(user, "down", timeout=120)
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGINT)
            node.wait(60)
