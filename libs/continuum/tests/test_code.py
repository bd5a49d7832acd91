"""The code domain's shared parts on a real git repository: a patch is checked
before anything applies it, and a change lands on its own branch through a
separate worktree, leaving the user's checkout as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from continuum.code import git
from continuum.code.diffs import PatchError, check_patch, parse_patch

SOURCE = "def add(a, b):\n    return a + b\n"
PATCH = """\
diff --git a/calc.py b/calc.py
--- a/calc.py
+++ b/calc.py
@@ -1,2 +1,2 @@
 def add(a, b):
-    return a + b
+    return b + a
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    (root / "calc.py").write_text(SOURCE)
    git.git(root, "init", "-q", "-b", "main")
    git.git(root, "add", "calc.py")
    git.git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    return root


def test_a_patch_names_the_files_it_touches() -> None:
    (change,) = parse_patch(PATCH)
    assert change.old_path == change.new_path == "calc.py"
    new = parse_patch("--- /dev/null\n+++ b/new.py\n@@ -0,0 +1 @@\n+x = 1\n")
    assert new[0].old_path is None and new[0].path == "new.py"


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        ("hello", "not a unified diff"),
        (PATCH.replace("calc.py", "/etc/passwd"), "not a path inside the workspace"),
        (PATCH.replace("a/calc.py", "a/../outside.py"), "leaves the workspace"),
        (PATCH.replace("calc.py", ".git/config"), "inside .git"),
        ("diff --git a/l b/l\nnew file mode 120000\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+/etc\n",
         "would be a symlink"),
        ("diff --git a/x b/x\nGIT binary patch\nliteral 1\n", "binary patches"),
        (PATCH.replace("calc.py", "out/evil.py"), "symlink"),
    ],
)  # fmt: skip
def test_a_patch_that_could_write_outside_the_workspace_is_refused(
    repo: Path, tmp_path: Path, patch: str, reason: str
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / "out").symlink_to(elsewhere)  # a directory link leading out of the repository
    with pytest.raises(PatchError, match=reason):
        check_patch(patch, repo)


def test_a_change_lands_on_its_own_branch_and_the_checkout_is_untouched(
    repo: Path, tmp_path: Path
) -> None:
    assert git.toplevel(repo / ".") == repo.resolve()
    base = git.head(repo)
    tree = git.add_worktree(repo, tmp_path / "work" / "p1", base)
    with pytest.raises(git.GitError, match="patch does not apply"):
        git.apply(tree.path, PATCH.replace("return a + b", "return a - b"), check_only=True)
    git.apply(tree.path, PATCH)
    sha = git.commit_to_branch(tree.path, "continuum/p1", "Swap the operands", "Debugger AI", "d@c")
    assert git.branch_exists(repo, "continuum/p1")
    assert git.git(repo, "show", f"{sha}:calc.py") == "def add(a, b):\n    return b + a\n"
    # The user's checkout: same branch, same commit, same files, nothing staged.
    assert git.current_branch(repo) == "main" and git.head(repo) == base
    assert (repo / "calc.py").read_text() == SOURCE
    assert git.git(repo, "status", "--porcelain") == ""
    tree.remove()
    assert not tree.path.exists() and git.branch_exists(repo, "continuum/p1")


def test_a_path_that_is_not_a_repository_is_refused(tmp_path: Path) -> None:
    with pytest.raises(git.NotARepository, match="not a git repository"):
        git.toplevel(tmp_path)
    with pytest.raises(git.NotARepository, match="not a directory"):
        git.toplevel(tmp_path / "missing")
