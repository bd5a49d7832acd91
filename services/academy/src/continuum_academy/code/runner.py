"""A proposal's change, made real only in a worktree of its own.

Every step starts from the proposal's base commit in a fresh temporary
worktree (outside the node's home, which the sandbox hides): check that the
patch applies, run the workspace's tests on it, or commit it on its branch.
Nothing is kept on disk between steps (the event holds the patch and the
base), so a restart loses nothing and the user's checkout is never touched:
git records the temporary worktree in the repository's ``.git/worktrees``
while it exists, and forgets it after.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

from continuum.code import git
from continuum.code.diffs import FileChange, check_patch
from continuum_academy.sandbox import CommandResult, SandboxLimits, run_tests_command

DEFAULT_TEST_COMMAND = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


@contextlib.contextmanager
def worktree(repo: Path, commit: str, patch: str) -> Iterator[Path]:
    """A temporary worktree of ``commit`` with ``patch`` applied (GitError if it does not apply)."""
    with tempfile.TemporaryDirectory(prefix="continuum-proposal-") as scratch:
        tree = git.add_worktree(repo, Path(scratch) / "tree", commit)
        try:
            git.apply(tree.path, patch)
            yield tree.path
        finally:
            tree.remove()


def check(repo: Path, patch: str) -> tuple[str, list[FileChange]]:
    """The base commit the patch applies to, and what it touches; PatchError or
    GitError says why it cannot be proposed."""
    changes = check_patch(patch, repo)
    base = git.head(repo)
    with worktree(repo, base, patch):
        pass
    return base, changes


def run_tests(
    repo: Path, base: str, patch: str, command: list[str], limits: SandboxLimits
) -> CommandResult:
    with worktree(repo, base, patch) as path:
        return run_tests_command(command, str(path), limits)


def commit(repo: Path, base: str, patch: str, branch: str, message: str, author: str) -> str:
    """Commit the change on a new ``branch``; its sha. Never the checked-out branch."""
    if git.branch_exists(repo, branch):
        raise git.GitError(f"branch {branch} already exists in the workspace")
    email = f"{author.lower().replace(' ', '-')}@personas.continuum"
    with worktree(repo, base, patch) as path:
        return git.commit_to_branch(path, branch, message, author, email)
