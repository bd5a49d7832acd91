"""The code domain over HTTP (``cmd.academy.code.*``): workspaces, proposals,
and a human's approval or rejection.

Proposing on a persona's behalf and deciding are the operator's (admin):
a proposal is recorded as the persona's, and a decision under the token's
name. Personas propose by themselves, in rooms, over NATS. An approved change is
committed on its own branch (``continuum/<proposal>``) of the workspace,
never on the branch the user has checked out.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request

from continuum_gateway.http import bodies
from continuum_gateway.http.auth import require
from continuum_gateway.http.routes_chat import call_service
from continuum_gateway.tokens import ApiToken

router = APIRouter()

ProposalId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
WorkspaceName = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Reader = Annotated[ApiToken, Depends(require("read"))]
Publisher = Annotated[ApiToken, Depends(require("publish"))]
Admin = Annotated[ApiToken, Depends(require("admin"))]


async def _code(request: Request, op: str, body: dict[str, Any]) -> Any:
    return await call_service(request, "academy", f"code.{op}", body, 120)


async def _decide(request: Request, op: str, proposal: str, token: ApiToken) -> Any:
    """A human's decision, recorded under the token's name."""
    sent = await bodies.sent(request)
    return await _code(request, op, {**sent, "proposal": proposal, "by": token.name})


@router.get("/v1/code/workspaces", summary="Registered workspaces (git repositories)")
async def list_workspaces(request: Request, _: Reader) -> Any:
    return await _code(request, "workspace.list", {})


@router.post(
    "/v1/code/workspaces",
    status_code=201,
    summary="Register a git repository on the node as a workspace (admin)",
    description="The path must be a git repository with at least one commit; registering "
    "the same path again is harmless.",
)
async def add_workspace(
    request: Request, body: Annotated[bodies.NewWorkspace, Body()], token: Admin
) -> Any:
    return await _code(request, "workspace.add", {**await bodies.sent(request), "by": token.name})


@router.get("/v1/code/proposals", summary="Proposals, each with its status and test result")
async def list_proposals(
    request: Request,
    _: Reader,
    workspace: Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")] = None,
) -> Any:
    return await _code(request, "proposals", {"workspace": workspace} if workspace else {})


@router.post(
    "/v1/code/proposals",
    status_code=201,
    summary="Propose a change on a persona's behalf (admin); the workspace's tests run on it",
    description="Refused (422, with the reason) when the patch does not apply to the "
    "workspace's HEAD or names a path outside it (absolute, '..', .git, a symlink). Admin "
    "only: a proposal is recorded as the persona's, and only the node's operator (or the "
    "persona itself, in a room) may speak for a persona.",
)
async def propose(request: Request, body: Annotated[bodies.NewProposal, Body()], _: Admin) -> Any:
    return await _code(request, "propose", await bodies.sent(request))


@router.get("/v1/code/proposals/{proposal}", summary="A proposal: its diff and its test run")
async def show_proposal(request: Request, proposal: ProposalId, _: Reader) -> Any:
    return await _code(request, "show", {"proposal": proposal})


@router.post(
    "/v1/code/proposals/{proposal}/approve",
    summary="Approve (admin): commit the change on its own branch of the workspace",
    description="Refused (409) while its tests run, when they failed (unless force), and "
    "when it is already decided.",
)
async def approve_proposal(
    request: Request,
    proposal: ProposalId,
    body: Annotated[bodies.Decision, Body()],
    token: Admin,
) -> Any:
    return await _decide(request, "approve", proposal, token)


@router.post("/v1/code/proposals/{proposal}/reject", summary="Reject a proposal (admin)")
async def reject_proposal(
    request: Request,
    proposal: ProposalId,
    body: Annotated[bodies.Decision, Body()],
    token: Admin,
) -> Any:
    return await _decide(request, "reject", proposal, token)


@router.post(
    "/v1/code/training-set",
    summary="Write the 'proposals' skill from every approved proposal (admin)",
    description="Approved proposals whose tests passed become the exercises of the academy "
    "skill 'proposals' (the request in its context, the accepted diff), replacing the skill's "
    "file; train on it like any skill. 409 when there is none.",
)
async def training_set(request: Request, _: Admin) -> Any:
    return await _code(request, "training_set", {})


@router.post(
    "/v1/code/workspaces/{workspace}/check",
    summary="Run a workspace's tests on its HEAD (a check; nothing is changed)",
    description="The result names the file a failure points at, so a failing check can be "
    "handed to a persona as a request (`continuum code check WORKSPACE --room ROOM`).",
)
async def check_workspace(request: Request, workspace: WorkspaceName, _: Publisher) -> Any:
    return await _code(request, "check", {"workspace": workspace})
