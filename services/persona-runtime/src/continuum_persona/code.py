"""Code requests in rooms: which messages are about a workspace's file, the
context gathered for them, the proposal made from the persona's answer, and
the room told how it went (tests, approval) as it happens.

The workspaces and proposals are the academy's events
(``evt.academy.workspace.>``, ``evt.academy.proposal.>``), folded here for
what this runtime needs: which workspaces a room may change, and which
proposals its personas made, to report on them in their rooms.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from continuum.chat import RoomState
from continuum.code import git
from continuum.code.context import CodeContext, gather, target_in
from continuum.events.academy import (
    ProposalApproved,
    ProposalRejected,
    ProposalSubmitted,
    ProposalTested,
    WorkspaceRegistered,
)
from continuum.runtime.requests import ServiceRequestError
from continuum_persona.cognition.code import patch_in, situation_context
from continuum_persona.cognition.domains import Generation, Situation
from continuum_persona.personas import Persona, PersonaRegistry

log = logging.getLogger("continuum.persona.code")

Request = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
Post = Callable[[Persona, Situation, Generation], Awaitable[None]]
Spawn = Callable[[Any], Any]


class CodeDesk:
    def __init__(
        self,
        registry: PersonaRegistry,
        request: Request,
        post: Post,
        room_of: Callable[[str], RoomState | None],
        spawn: Spawn,
    ) -> None:
        self.registry = registry
        self.request = request
        self.post = post
        self.room_of = room_of
        self.spawn = spawn
        self.workspaces: dict[str, WorkspaceRegistered] = {}
        self.proposals: dict[str, ProposalSubmitted] = {}

    def apply(self, key: str, payload: BaseModel, live: bool) -> None:
        if isinstance(payload, WorkspaceRegistered):
            self.workspaces.setdefault(key, payload)
        elif isinstance(payload, ProposalSubmitted):
            self.proposals.setdefault(key, payload)
        elif live and isinstance(payload, ProposalTested | ProposalApproved | ProposalRejected):
            self.spawn(self._report(key, payload))

    # -- a request in a room ----------------------------------------------------------------

    async def code_situation(self, situation: Situation) -> Situation | None:
        """The chat situation as a code request, if it names a file of a workspace
        registered for its room."""
        room = situation.room
        if room is None:
            return None
        for name, workspace in sorted(self.workspaces.items()):
            if room.room_id not in workspace.rooms:
                continue
            repo = Path(workspace.path)
            try:
                tracked = await asyncio.to_thread(git.tracked_files, repo)
                path = target_in(situation.text, tracked)
                if path is None:
                    continue
                code = await asyncio.to_thread(gather, repo, name, path, situation.text)
            except (git.GitError, OSError) as exc:
                log.warning("workspace %s cannot be read: %s", name, exc)
                continue
            return dataclasses.replace(situation, domain="code", context=situation_context(code))
        return None

    async def propose(self, persona: Persona, situation: Situation, generation: Generation) -> None:
        """The code domain's action: the answer's diff becomes a proposal; the room is told."""
        code: CodeContext = situation.context["code"]
        if generation.status != "complete":  # failed or interrupted: posted as chat posts it
            await self.post(persona, situation, generation)
            return
        patch = patch_in(generation.text)
        if patch is None:
            generation.text = (
                f"I could not write the change to {code.path} as a unified diff this time. "
                f"What I wrote:\n\n{generation.text[:2000]}"
            )
        else:
            body = {
                "workspace": code.workspace,
                "persona": persona.persona_id,
                "summary": situation.text.strip().splitlines()[0][:300],
                "patch": patch,
                "request": situation.text[:4000],
                "room": situation.room.room_id if situation.room else None,
            }
            try:
                made = await self.request("cmd.academy.code.propose", body)
                generation.text = (
                    f"I propose this change to {code.path} (proposal {made['id']}); its tests "
                    f"are running.\n\n```diff\n{patch.rstrip()}\n```\n\nRead it with "
                    f"`continuum code show {made['id']}`, then `continuum code approve "
                    f"{made['id']}` (it is committed on its own branch) or `reject`."
                )
            except ServiceRequestError as exc:
                generation.text = (
                    f"My change to {code.path} was refused: {exc.message}\n\n"
                    f"```diff\n{patch.rstrip()}\n```"
                )
        await self.post(persona, situation, generation)

    # -- what happened to a proposal ----------------------------------------------------------

    async def _report(self, proposal_id: str, payload: BaseModel) -> None:
        submitted = self.proposals.get(proposal_id)
        if submitted is None or submitted.room is None:
            return
        persona = self.registry.personas.get(submitted.persona_id)
        room = self.room_of(submitted.room)
        if persona is None or room is None:
            return
        if isinstance(payload, ProposalTested):
            verdict = "passed" if payload.passed else "were killed" if payload.killed else "failed"
            last = [line for line in payload.output.splitlines() if line.strip()][-1:]
            text = f"Proposal {proposal_id}: the tests {verdict} ({payload.seconds:.1f} s)"
            text += f": {last[0][:200]}" if last else "."
        elif isinstance(payload, ProposalApproved):
            text = (
                f"Proposal {proposal_id} was approved by {payload.approved_by}: committed on "
                f"branch {payload.branch} ({payload.commit[:12]})."
            )
        else:
            assert isinstance(payload, ProposalRejected)
            why = f": {payload.reason}" if payload.reason else "."
            text = f"Proposal {proposal_id} was rejected by {payload.rejected_by}{why}"
        situation = Situation("code", text, "academy", "Academy", "", room=room)
        generation = Generation(
            text=text,
            status="complete",
            tokens=0,
            backend="academy",
            first_token_ms=None,
            duration_ms=0.0,
        )
        try:
            await self.post(persona, situation, generation)
        except Exception as exc:  # the proposal stands; only the room's note is lost
            log.warning("proposal %s: could not tell %s: %s", proposal_id, room.room_id, exc)
