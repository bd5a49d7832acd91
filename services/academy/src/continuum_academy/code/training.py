"""Approved proposals as a self-training set: the ``proposals`` skill.

A proposal a human approved, whose tests passed, is a worked example of the
code domain: the request in its context (CodeRAG at the proposal's base
commit, in the words a persona is shown in a room) and the diff that was
accepted. ``academy train --from-proposals`` writes them as a YAML skill
file and trains on it like on any skill (the skill's checks apply: a prompt
too long for the model is named, too few exercises are refused).

The grader checks that an answer starts with the accepted diff's first
header: whether a model's diff applies and passes is what a proposal's own
test run decides, not an exam.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from continuum.code import git
from continuum.code.context import CODE_RUBRIC, gather, render
from continuum_academy.code.book import CodeBook

SKILL = "proposals"
#: The YAML skill's limit on a prompt or an answer, in characters.
MAX_TEXT = 4000


def proposals_skill(book: CodeBook) -> tuple[str, int, list[str]]:
    """The skill file's text, how many proposals it holds, and why others were left out."""
    exercises: list[dict[str, Any]] = []
    skipped: list[str] = []
    for proposal in sorted(book.proposals.values(), key=lambda p: p.proposal_id):
        s = proposal.submitted
        if proposal.approved is None:
            continue
        if proposal.tested is None or not proposal.tested.passed:
            skipped.append(f"{proposal.proposal_id}: approved although its tests failed")
            continue
        workspace = book.workspaces.get(s.workspace)
        request = s.request or s.summary
        try:
            if workspace is None:
                raise git.GitError(f"workspace {s.workspace} is unknown")
            code = gather(Path(workspace.path), s.workspace, s.files[0], request, s.base_commit)
        except (git.GitError, OSError) as exc:
            skipped.append(f"{proposal.proposal_id}: its workspace cannot be read ({exc})")
            continue
        prompt, _ = render(code, request, MAX_TEXT, len)
        answer = s.patch.rstrip("\n")
        if len(prompt) > MAX_TEXT or len(answer) > MAX_TEXT:
            skipped.append(f"{proposal.proposal_id}: longer than {MAX_TEXT} characters")
            continue
        first = answer.splitlines()[0]
        exercises.append(
            {
                "prompt": prompt,
                "answer": answer,
                "grader": {"kind": "regex", "pattern": "^" + re.escape(first)},
                "kind": s.workspace,
            }
        )
    document = {
        "name": SKILL,
        "description": "Propose the change a human approved, as a unified diff "
        "(made from approved proposals whose tests passed).",
        "rubric": CODE_RUBRIC,
        "exercises": exercises,
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True), len(exercises), skipped
