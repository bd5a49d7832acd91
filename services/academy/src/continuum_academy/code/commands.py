"""The code domain's commands: register a workspace, propose a change (its
tests run in the sandbox), and a human's approval or rejection.

Everything a request names is checked before anything is written: a path
that is not a git repository, a patch that does not apply or reaches
outside the workspace, a second decision on a proposal: each a clear error
(422 or 409), with no event appended and nothing changed in the workspace.
An approval commits the change on its own branch ``continuum/<proposal>``
and then records it; a second approval finds the proposal decided (or the
branch there) and is refused.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from continuum import suggest
from continuum.code import git
from continuum.code.diffs import PatchError
from continuum.contracts.commands import (
    AddWorkspace,
    DecideProposal,
    ProposalList,
    ProposalRef,
    Propose,
    WorkspaceRef,
)
from continuum.events.academy import (
    ProposalApproved,
    ProposalRejected,
    ProposalSubmitted,
    ProposalTested,
    WorkspaceRegistered,
)
from continuum.events.errors import EventTooLarge
from continuum.runtime import RequestError
from continuum.runtime.commands import parse_request
from continuum.store import ConcurrencyError
from continuum_academy.code import runner
from continuum_academy.code.book import CodeBook, Proposal
from continuum_academy.code.training import SKILL, proposals_skill
from continuum_academy.curriculum import Curriculum
from continuum_academy.sandbox import SandboxLimits
from continuum_academy.skills import SkillError

OUTPUT_KEPT = 8000
T = TypeVar("T")


class Executor(Protocol):
    code: CodeBook
    code_limits: SandboxLimits
    curriculum: Curriculum

    async def append(self, aggregate_id: str, events: list[Any], expected: int | None) -> int: ...

    async def persona(self, key: str) -> dict[str, Any]: ...

    def spawn_task(self, key: str, coro: Any) -> None: ...


def _slug(path: Path) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", path.name.lower()).strip("-")[:64] or "workspace"


def _workspace_view(name: str, w: WorkspaceRegistered) -> dict[str, Any]:
    return {"name": name, "path": w.path, "test_command": w.test_command, "rooms": w.rooms}


def _repository(path: str) -> Path:
    """The work tree's root, if ``path`` is in a git repository with a commit."""
    try:
        where = Path(path).expanduser()
    except (RuntimeError, ValueError) as exc:  # ~nobody, a NUL byte
        raise git.NotARepository(f"{path[:200]!r} is not a usable path: {exc}") from None
    root = git.toplevel(where)
    git.head(root)
    return root


def _workspace(executor: Executor, name: str) -> WorkspaceRegistered:
    return _known(executor.code.workspaces, "workspace", name)


def _proposal(executor: Executor, proposal_id: str) -> Proposal:
    return _known(executor.code.proposals, "proposal", proposal_id)


def _known(found: dict[str, T], what: str, key: str) -> T:
    if key not in found:
        raise RequestError(suggest.unknown(what, key, list(found)), 404)
    return found[key]


async def add_workspace(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(AddWorkspace, body, "workspace")
    try:
        root = await asyncio.to_thread(_repository, request.path)
    except git.GitError as exc:
        raise RequestError(str(exc), 422) from None
    name = request.name or _slug(root)
    known = executor.code.workspaces.get(name)
    if known is not None:
        if Path(known.path) != root:
            raise RequestError(f"workspace {name!r} is already {known.path}; give --name", 409)
        return _workspace_view(name, known)
    registered = WorkspaceRegistered(
        path=str(root),
        test_command=request.test_command or runner.DEFAULT_TEST_COMMAND,
        registered_by=request.by or "someone",
        rooms=request.rooms,
    )
    try:
        await executor.append(name, [registered], 0)
    except ConcurrencyError:
        raise RequestError(f"workspace {name!r} was registered meanwhile", 409) from None
    return _workspace_view(name, registered)


async def workspaces(executor: Executor, _: dict[str, Any]) -> dict[str, Any]:
    return {
        "workspaces": [
            _workspace_view(name, w) for name, w in sorted(executor.code.workspaces.items())
        ]
    }


async def propose(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(Propose, body, "proposal")
    workspace = _workspace(executor, request.workspace)
    persona = await executor.persona(request.persona)
    try:
        base, changes = await asyncio.to_thread(runner.check, Path(workspace.path), request.patch)
    except PatchError as exc:
        raise RequestError(f"the patch is refused: {exc}", 422) from None
    except git.GitError as exc:
        raise RequestError(f"the patch does not apply: {exc}", 422) from None
    proposal_id = uuid.uuid4().hex[:12]
    submitted = ProposalSubmitted(
        workspace=request.workspace,
        persona_id=persona["id"],
        summary=request.summary,
        patch=request.patch,
        files=sorted({c.path for c in changes}),
        base_commit=base,
        request=request.request,
        room=request.room,
    )
    try:
        await executor.append(proposal_id, [submitted], 0)
    except EventTooLarge as exc:  # a node configured with smaller events than the default
        raise RequestError(f"the proposal does not fit in an event: {exc}", 413) from None
    test(executor, proposal_id)
    return _proposal(executor, proposal_id).describe()


def test(executor: Executor, proposal_id: str) -> None:
    """Run the proposal's tests in the background; the result is an event."""
    executor.spawn_task(f"proposal-tests-{proposal_id}", _run_tests(executor, proposal_id))


async def _run_tests(executor: Executor, proposal_id: str) -> None:
    proposal = executor.code.proposals[proposal_id]
    s = proposal.submitted
    workspace = executor.code.workspaces[s.workspace]
    try:
        result = await asyncio.to_thread(
            runner.run_tests,
            Path(workspace.path),
            s.base_commit,
            s.patch,
            workspace.test_command,
            executor.code_limits,
        )
        tested = ProposalTested(
            passed=result.passed,
            exit_code=result.exit_code,
            killed=result.killed,
            seconds=round(result.seconds, 3),
            output=result.output[-OUTPUT_KEPT:],
        )
    except (git.GitError, OSError) as exc:  # the workspace moved or broke: say so
        tested = ProposalTested(passed=False, seconds=0.0, output=f"not run: {exc}"[:OUTPUT_KEPT])
    await executor.append(proposal_id, [tested], None)


async def proposals(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    wanted = parse_request(ProposalList, body).workspace
    return {
        "proposals": [
            p.describe()
            for p in executor.code.proposals.values()
            if wanted is None or p.submitted.workspace == wanted
        ]
    }


async def show(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    return _proposal(executor, parse_request(ProposalRef, body).proposal).describe(full=True)


def _undecided(proposal: Proposal) -> None:
    if proposal.approved is not None:
        raise RequestError(
            f"proposal {proposal.proposal_id} is already approved "
            f"(on branch {proposal.approved.branch})",
            409,
        )
    if proposal.rejected is not None:
        raise RequestError(f"proposal {proposal.proposal_id} was rejected", 409)


async def approve(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(DecideProposal, body, "approval")
    proposal = _proposal(executor, request.proposal)
    _undecided(proposal)
    if proposal.tested is None:
        raise RequestError("its tests are still running: approve once they are done", 409)
    if not proposal.tested.passed and not request.force:
        raise RequestError("its tests failed: read them (code show), or approve with force", 409)
    s = proposal.submitted
    workspace = executor.code.workspaces[s.workspace]
    branch = f"continuum/{proposal.proposal_id}"
    persona = await executor.persona(s.persona_id)
    message = f"{s.summary}\n\nProposed by {persona['name']}, approved by {request.by}.\n"
    version = proposal.version
    try:
        sha = await asyncio.to_thread(
            runner.commit, Path(workspace.path), s.base_commit, s.patch, branch, message,
            persona["name"],
        )  # fmt: skip
    except git.GitError as exc:
        raise RequestError(f"cannot commit it: {exc}", 409) from None
    approved = ProposalApproved(approved_by=request.by, branch=branch, commit=sha)
    try:
        await executor.append(proposal.proposal_id, [approved], version)
    except ConcurrencyError:
        raise RequestError(f"proposal {proposal.proposal_id} was decided meanwhile", 409) from None
    return proposal.describe()


async def reject(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    request = parse_request(DecideProposal, body, "rejection")
    proposal = _proposal(executor, request.proposal)
    _undecided(proposal)
    rejected = ProposalRejected(rejected_by=request.by, reason=request.reason)
    try:
        await executor.append(proposal.proposal_id, [rejected], proposal.version)
    except ConcurrencyError:
        raise RequestError(f"proposal {proposal.proposal_id} was decided meanwhile", 409) from None
    return proposal.describe()


async def check(executor: Executor, body: dict[str, Any]) -> dict[str, Any]:
    """Run a workspace's tests on its HEAD: the failing check a persona can be asked
    to fix (``continuum code check WORKSPACE --room ROOM``)."""
    name = parse_request(WorkspaceRef, body).workspace
    workspace = _workspace(executor, name)
    repo = Path(workspace.path)
    try:
        base, result = await asyncio.to_thread(
            runner.check_head, repo, workspace.test_command, executor.code_limits
        )
        tracked = await asyncio.to_thread(git.tracked_files, repo)
        blamed = (
            None
            if result.passed
            else await asyncio.to_thread(runner.blamed_file, repo, base, result.output, tracked)
        )
    except git.GitError as exc:
        raise RequestError(f"workspace {name} cannot be checked: {exc}", 409) from None
    return {
        "workspace": name,
        "commit": base,
        "passed": result.passed,
        "killed": result.killed,
        "seconds": round(result.seconds, 3),
        "output": result.output[-OUTPUT_KEPT:],
        "file": blamed,
    }


async def training_set(executor: Executor, _: dict[str, Any]) -> dict[str, Any]:
    """Write the ``proposals`` skill from every approved proposal (replacing it)."""
    text, count, skipped = await asyncio.to_thread(proposals_skill, executor.code)
    if count == 0:
        why = f" ({'; '.join(skipped)})" if skipped else ""
        raise RequestError(f"no approved proposal with passing tests to train on{why}", 409)
    try:
        await asyncio.to_thread(executor.curriculum.install, text, "the approved proposals")
    except SkillError as exc:
        raise RequestError(str(exc)) from None
    return {"skill": SKILL, "exercises": count, "skipped": skipped}


HANDLERS: dict[str, Callable[[Executor, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "code.workspace.add": add_workspace,
    "code.workspace.list": workspaces,
    "code.propose": propose,
    "code.proposals": proposals,
    "code.show": show,
    "code.approve": approve,
    "code.reject": reject,
    "code.training_set": training_set,
    "code.check": check,
}
