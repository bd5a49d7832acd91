"""git, run as a subprocess: the only way a workspace is read or written.

Every call runs with the repository's hooks off (``core.hooksPath`` is an
empty directory) and without the user's global or system configuration, so
a commit made for a persona runs nothing from the repository, and no
terminal prompt can hang a service. A proposal's changes are made in a
separate worktree on a branch of their own: the user's checkout (its files,
its index, its current branch) is never touched.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 60.0


class GitError(RuntimeError):
    """git refused or failed; the message is git's own reason."""


class NotARepository(GitError):
    pass


_NO_HOOKS = tempfile.mkdtemp(prefix="continuum-no-hooks-")


def _env() -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": _NO_HOOKS,  # no ~/.gitconfig
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
    }


def git(cwd: Path, *args: str, stdin: str | None = None, timeout: float = TIMEOUT_S) -> str:
    """``git ARGS`` in ``cwd``; its stdout, or GitError with its stderr."""
    command = ["git", "-c", f"core.hooksPath={_NO_HOOKS}", "-c", "core.fsmonitor=false", *args]
    try:
        done = subprocess.run(
            command,
            cwd=cwd,
            input=stdin,
            capture_output=True,
            text=True,
            env=_env(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise GitError("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took longer than {timeout:g} s") from None
    if done.returncode != 0:
        reason = (done.stderr or done.stdout).strip().splitlines()
        raise GitError("; ".join(reason[-3:]) or f"git {args[0]} failed ({done.returncode})")
    return done.stdout


def toplevel(path: Path) -> Path:
    """The root of the work tree ``path`` is in; NotARepository if none."""
    try:
        is_dir = path.is_dir()
    except (OSError, ValueError) as exc:  # too long, a NUL byte, no permission
        raise NotARepository(f"{str(path)[:200]!r} is not a usable path: {exc}") from None
    if not is_dir:
        raise NotARepository(f"{str(path)[:200]} is not a directory")
    try:
        root = git(path, "rev-parse", "--show-toplevel").strip()
        bare = git(path, "rev-parse", "--is-bare-repository").strip()
    except GitError:
        raise NotARepository(f"{path} is not a git repository (git init it first)") from None
    if bare == "true" or not root:
        raise NotARepository(f"{path} is a bare repository: a workspace needs a work tree")
    return Path(root).resolve()


def head(repo: Path) -> str:
    try:
        return git(repo, "rev-parse", "--verify", "HEAD^{commit}").strip()
    except GitError:
        raise GitError(f"{repo} has no commits yet: commit something first") from None


def current_branch(repo: Path) -> str | None:
    name = git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return None if name == "HEAD" else name


def branch_exists(repo: Path, branch: str) -> bool:
    try:
        git(repo, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
    except GitError:
        return False
    return True


@dataclass(frozen=True)
class Worktree:
    repo: Path
    path: Path

    def remove(self) -> None:
        with contextlib.suppress(GitError):  # already gone: prune forgets it
            git(self.repo, "worktree", "remove", "--force", str(self.path))
        git(self.repo, "worktree", "prune")


def add_worktree(repo: Path, path: Path, commit: str) -> Worktree:
    """A detached worktree of ``commit`` at ``path`` (its own files and index)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", str(path), commit)
    return Worktree(repo, path)


def apply(worktree: Path, patch: str, check_only: bool = False) -> None:
    """Apply ``patch`` to the worktree's files (and index); GitError says why not."""
    args = ["apply", "--index", "--whitespace=nowarn"]
    if check_only:
        args.append("--check")
    git(worktree, *args, "-", stdin=patch if patch.endswith("\n") else patch + "\n")


def commit_to_branch(worktree: Path, branch: str, message: str, author: str, email: str) -> str:
    """Commit the worktree's staged change on a new ``branch``; the commit's sha."""
    git(worktree, "switch", "--create", branch)
    git(
        worktree,
        "-c", f"user.name={author}",
        "-c", f"user.email={email}",
        "commit", "--no-verify", "--quiet", "-m", message,
    )  # fmt: skip
    return git(worktree, "rev-parse", "HEAD").strip()


def recent_commits(repo: Path, path: str, limit: int = 5, until: str = "HEAD") -> list[str]:
    """``sha subject`` of the last commits touching ``path`` (up to ``until``)."""
    out = git(repo, "log", f"-n{limit}", "--format=%h %s", until, "--", path)
    return [line for line in out.splitlines() if line]


def tracked_files(repo: Path) -> list[str]:
    return [line for line in git(repo, "ls-files").splitlines() if line]
