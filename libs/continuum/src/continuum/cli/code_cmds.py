"""`continuum code ...`: workspaces, proposals, and your approval.

A persona proposes a change to a registered git repository as a unified
diff; the workspace's tests run on it in the academy's sandbox; you read it
(`code show`) and approve or reject it. An approved change is committed on
its own branch (``continuum/<proposal>``), never on the branch you have
checked out: merge it when you like it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.syntax import Syntax

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, print_table

app = typer.Typer(help="Code: workspaces, proposed changes, approval.", no_args_is_help=True)
workspace_app = typer.Typer(help="Git repositories personas may propose changes to.")
app.add_typer(workspace_app, name="workspace", no_args_is_help=True)


@workspace_app.command("add")
def workspace_add(
    path: Path = typer.Argument(..., help="A git repository on this node."),
    name: str = typer.Option("", help="Its name (default: the directory's)."),
    test_command: str = typer.Option(
        "", "--test-command", help="How its tests run (default: python -m pytest -q)."
    ),
    room: list[str] = typer.Option(
        [], "--room", "-r", help="A room where asking about one of its files gets a proposal."
    ),
) -> None:
    """Register a git repository as a workspace."""
    body: dict[str, Any] = {"path": str(path.expanduser().resolve()), "rooms": room}
    if name:
        body["name"] = name
    if test_command:
        body["test_command"] = test_command.split()
    done = gateway_client.request("POST", "/v1/code/workspaces", json=body)
    tests = " ".join(done["test_command"])
    rooms = f"; proposals from {', '.join(done['rooms'])}" if done["rooms"] else ""
    console.print(f"workspace {done['name']}: {done['path']} (tests: {tests}{rooms})")


@workspace_app.command("ls")
def workspace_ls() -> None:
    """Registered workspaces."""
    rows = gateway_client.request("GET", "/v1/code/workspaces")["workspaces"]
    print_table(
        "workspaces",
        ("name", "path", "tests", "rooms"),
        [(w["name"], w["path"], " ".join(w["test_command"]), ", ".join(w["rooms"])) for w in rows],
        whole=("path",),
    )


def _tests(p: dict[str, Any]) -> str:
    tests = p.get("tests")
    if tests is None:
        return "running"
    verdict = "passed" if tests["passed"] else "killed" if tests["killed"] else "failed"
    return f"{verdict} ({tests['seconds']:.1f} s)"


@app.command("propose")
def propose(
    workspace: str = typer.Argument(..., help="The workspace's name."),
    patch: Path = typer.Option(..., "--patch", help="A unified diff file ('-': stdin)."),
    summary: str = typer.Option(..., help="One line: what the change does."),
    persona: str = typer.Option(..., help="The persona proposing it."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only the proposal's id."),
) -> None:
    """Propose a change on a persona's behalf (a tool's way in)."""
    import sys

    text = sys.stdin.read() if str(patch) == "-" else _read(patch)
    body = {"workspace": workspace, "persona": persona, "summary": summary, "patch": text}
    done = gateway_client.request("POST", "/v1/code/proposals", json=body)
    if quiet:
        console.print(done["id"])
    else:
        console.print(f"proposal {done['id']}: {done['summary']} ({done['status']})")


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None


@app.command("proposals")
def proposals(
    workspace: str = typer.Option("", help="Only this workspace's proposals."),
) -> None:
    """Proposals: who proposed what, its tests, and its decision."""
    path = f"/v1/code/proposals?workspace={workspace}" if workspace else "/v1/code/proposals"
    rows = gateway_client.request("GET", path)["proposals"]
    print_table(
        "proposals",
        ("id", "workspace", "persona", "summary", "tests", "status"),
        [
            (p["id"], p["workspace"], p["persona"], p["summary"], _tests(p), p["status"])
            for p in rows
        ],
    )


@app.command("show")
def show(
    proposal: str = typer.Argument(..., help="The proposal's id."),
    wait: float = typer.Option(0.0, help="Wait up to this many seconds for its tests."),
) -> None:
    """A proposal: what it changes (the diff) and how its tests went."""
    import time

    deadline = time.monotonic() + wait
    p = gateway_client.request("GET", f"/v1/code/proposals/{proposal}")
    while p["tests"] is None and time.monotonic() < deadline:
        time.sleep(0.5)
        p = gateway_client.request("GET", f"/v1/code/proposals/{proposal}")
    console.print(f"[bold]{p['summary']}[/] ({p['id']}, {p['status']})")
    console.print(f"by {p['persona']} in {p['workspace']}, on {p['base_commit'][:12]}")
    if p.get("request"):
        console.print(f"asked: {p['request']}")
    if p["branch"]:
        console.print(f"committed on branch {p['branch']} ({p['commit'][:12]})")
    console.print(Syntax(p["patch"], "diff", theme="ansi_dark", word_wrap=True))
    console.print(f"tests: {_tests(p)}")
    if p.get("tests") and p["tests"].get("output"):
        console.print(p["tests"]["output"][-3000:], markup=False, highlight=False)


@app.command("approve")
def approve(
    proposal: str = typer.Argument(..., help="The proposal's id."),
    force: bool = typer.Option(False, help="Approve although its tests failed."),
) -> None:
    """Approve: the change is committed on its own branch of the workspace."""
    body = {"force": True} if force else {}
    p = gateway_client.request("POST", f"/v1/code/proposals/{proposal}/approve", json=body)
    console.print(f"approved {p['id']}: committed on branch {p['branch']} ({p['commit'][:12]})")


@app.command("reject")
def reject(
    proposal: str = typer.Argument(..., help="The proposal's id."),
    reason: str = typer.Option("", help="Why (the persona can learn from it)."),
) -> None:
    """Reject: the workspace never sees the change."""
    body = {"reason": reason} if reason else {}
    p = gateway_client.request("POST", f"/v1/code/proposals/{proposal}/reject", json=body)
    console.print(f"rejected {p['id']}")


@app.command("check")
def check(
    workspace: str = typer.Argument(..., help="The workspace's name."),
    room: str = typer.Option(
        "", "--room", "-r", help="If the check fails, ask this room to fix it (a persona proposes)."
    ),
) -> None:
    """Run a workspace's tests on its HEAD; a failure can become a request in a room.

    This is the self-improvement loop's first step: a failing check, handed to
    the room's code persona, comes back as a proposal you approve or reject."""
    done = gateway_client.request("POST", f"/v1/code/workspaces/{workspace}/check")
    verdict = "passed" if done["passed"] else "were killed" if done["killed"] else "failed"
    console.print(
        f"{workspace} at {done['commit'][:12]}: the tests {verdict} ({done['seconds']:.1f} s)"
    )
    if done["passed"]:
        return
    tail = [line for line in done["output"].splitlines() if line.strip()][-12:]
    console.print("\n".join(tail), markup=False, highlight=False)
    if not room:
        return
    if not done["file"]:
        raise CliError("the failure names no file of the workspace: ask in the room yourself")
    text = f"The tests of {workspace} fail. Fix {done['file']} so that they pass:\n\n" + "\n".join(
        tail
    )
    posted = gateway_client.request(
        "POST", f"/v1/rooms/{room}/messages", json={"text": text[:8000]}
    )
    console.print(f"asked {room} to fix {done['file']} (message {posted['message_id']})")
