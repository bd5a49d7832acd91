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
from pathlib import Path, PurePosixPath

from continuum.code import git
from continuum.code.context import code_under_test
from continuum.code.diffs import FileChange, check_patch
from continuum_academy.sandbox import CommandResult, SandboxLimits, run_tests_command

DEFAULT_TEST_COMMAND = ["python", "-m", "pytest", "-q", "-p", "no:cacheprovider"]


@contextlib.contextmanager
def worktree(repo: Path, commit: str, patch: str) -> Iterator[Path]:
    """A temporary worktree of ``commit`` with ``patch`` applied (GitError if it does
    not apply; an empty patch: the commit as it is)."""
    with tempfile.TemporaryDirectory(prefix="continuum-proposal-") as scratch:
        tree = git.add_worktree(repo, Path(scratch) / "tree", commit)
        try:
            if patch:
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


def check_head(repo: Path, command: list[str], limits: SandboxLimits) -> tuple[str, CommandResult]:
    """The workspace's tests on its HEAD as committed (a check, not a proposal)."""
    base = git.head(repo)
    return base, run_tests(repo, base, "", command, limits)


def blamed_file(repo: Path, commit: str, output: str, tracked: list[str]) -> str | None:
    """The file a failing run points at: the last tracked non-test file in its
    tracebacks; else the code the failing test imports; else that test."""
    named = [f for f in tracked if f in output]
    if not named:
        return None
    ordered = sorted(named, key=output.rfind)
    code = [f for f in ordered if "test" not in PurePosixPath(f).name]
    if code:
        return code[-1]
    test = ordered[-1]
    if test.endswith(".py"):
        source = git.git(repo, "show", f"{commit}:{test}")
        return code_under_test(source, tracked) or test
    return test
