"""Workspaces and proposals, folded from their events (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from continuum.events.academy import (
    ProposalApproved,
    ProposalRejected,
    ProposalSubmitted,
    ProposalTested,
    WorkspaceRegistered,
)


@dataclass
class Proposal:
    proposal_id: str
    submitted: ProposalSubmitted
    #: The stream sequence of its last event (what a decision is appended against).
    version: int
    tested: ProposalTested | None = None
    approved: ProposalApproved | None = None
    rejected: ProposalRejected | None = None

    @property
    def status(self) -> str:
        if self.approved is not None:
            return "approved"
        if self.rejected is not None:
            return "rejected"
        if self.tested is None:
            return "testing"
        return "tests passed" if self.tested.passed else "tests failed"

    def describe(self, full: bool = False) -> dict[str, Any]:
        s = self.submitted
        out: dict[str, Any] = {
            "id": self.proposal_id,
            "workspace": s.workspace,
            "persona": s.persona_id,
            "summary": s.summary,
            "files": s.files,
            "base_commit": s.base_commit,
            "room": s.room,
            "status": self.status,
            "tests": None,
            "branch": self.approved.branch if self.approved else None,
            "commit": self.approved.commit if self.approved else None,
            "decided_by": (
                self.approved.approved_by
                if self.approved
                else self.rejected.rejected_by
                if self.rejected
                else None
            ),
            "reason": self.rejected.reason if self.rejected else "",
        }
        if self.tested is not None:
            out["tests"] = {
                "passed": self.tested.passed,
                "exit_code": self.tested.exit_code,
                "killed": self.tested.killed,
                "seconds": self.tested.seconds,
            }
            if full:
                out["tests"]["output"] = self.tested.output
        if full:
            out["patch"] = s.patch
            out["request"] = s.request
        return out


class CodeBook:
    def __init__(self) -> None:
        self.workspaces: dict[str, WorkspaceRegistered] = {}
        self.proposals: dict[str, Proposal] = {}

    def apply(self, aggregate: str, key: str, payload: BaseModel, seq: int) -> None:
        if aggregate == "workspace" and isinstance(payload, WorkspaceRegistered):
            self.workspaces.setdefault(key, payload)
            return
        if isinstance(payload, ProposalSubmitted):
            self.proposals.setdefault(key, Proposal(key, payload, seq))
            return
        proposal = self.proposals.get(key)
        if proposal is None:
            return
        proposal.version = seq
        if isinstance(payload, ProposalTested):
            proposal.tested = payload
        elif isinstance(payload, ProposalApproved):
            proposal.approved = payload
        elif isinstance(payload, ProposalRejected):
            proposal.rejected = payload

    def untested(self) -> list[Proposal]:
        """Submitted, never tested, never decided: what a restart runs again."""
        return [
            p
            for p in self.proposals.values()
            if p.tested is None and p.approved is None and p.rejected is None
        ]
