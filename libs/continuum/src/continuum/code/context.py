"""CodeRAG: what a persona is shown before it proposes a change to a file.

The file in question; what it imports from the workspace and what in the
workspace imports it; the last commits that touched it; the repository's
style configuration (ruff/pyproject, .editorconfig). Everything is read
through git (tracked files at HEAD), so an untracked secret in the work
tree is never shown. When the model's window is short, the least useful
parts go first: importers, then imports, then history, then style; the
file itself goes last, cut from its end.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from continuum.code import git

#: What a persona is told a code request asks of it; the academy's training set
#: from approved proposals renders its exercises with the same words.
CODE_RUBRIC = (
    "You change code by proposing a unified diff; a human reviews it before anything is "
    "committed. Answer with the diff only."
)
#: Style files shown when the workspace has them (the first KiB of each).
STYLE_FILES = ("pyproject.toml", ".editorconfig", "setup.cfg", "ruff.toml", ".ruff.toml")
_PATH = re.compile(r"[A-Za-z0-9_./-]+\.[A-Za-z0-9]+")


@dataclass
class CodeContext:
    workspace: str
    path: str
    source: str
    function: str | None = None
    imports: dict[str, str] = field(default_factory=dict)
    importers: dict[str, str] = field(default_factory=dict)
    history: list[str] = field(default_factory=list)
    style: dict[str, str] = field(default_factory=dict)


def target_in(text: str, tracked: list[str]) -> str | None:
    """The tracked file a request names (``app/client.py``), if any."""
    names = set(tracked)
    for candidate in _PATH.findall(text):
        path = str(candidate).removeprefix("./")
        if path in names:
            return path
    return None


def module_of(path: str) -> str:
    pure = PurePosixPath(path)
    parts = list(pure.with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imported_modules(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def function_named(source: str, text: str) -> str | None:
    """A function or class defined in ``source`` whose name the request uses."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and (
            node.name in words
        ):
            return node.name
    return None


def gather(
    repo: Path, workspace: str, path: str, request: str, commit: str | None = None
) -> CodeContext:
    """Read the context of ``path`` at ``commit`` (the workspace's HEAD by default)."""
    head = commit or git.head(repo)

    def show(name: str) -> str:
        return git.git(repo, "show", f"{head}:{name}")

    tracked = [f for f in git.git(repo, "ls-tree", "-r", "--name-only", head).splitlines() if f]
    source = show(path)
    context = CodeContext(workspace, path, source, function_named(source, request))
    python = [f for f in tracked if f.endswith(".py")]
    modules = {module_of(f): f for f in python}
    if path.endswith(".py"):
        for module in sorted(imported_modules(source)):
            if module in modules and modules[module] != path:
                context.imports[modules[module]] = show(modules[module])
        own = module_of(path)
        for other in python:
            if other == path or len(context.importers) >= 5:
                continue
            text = show(other)
            if own in imported_modules(text):
                context.importers[other] = text
    context.history = git.recent_commits(repo, path, 5, head)
    for name in STYLE_FILES:
        if name in tracked:
            context.style[name] = show(name)[:1024]
    return context


def render(
    context: CodeContext, request: str, budget: int, count: Callable[[str], int]
) -> tuple[str, bool]:
    """The context as one prompt within ``budget`` tokens; whether anything was cut."""

    def block(title: str, files: dict[str, str]) -> list[str]:
        return [f"{title} {name}:\n```\n{text}\n```" for name, text in files.items()]

    ask = (
        f"Workspace {context.workspace}, file {context.path}"
        + (f", {context.function}" if context.function else "")
        + f".\nRequest: {request}\n"
        "Answer with a unified diff (--- a/PATH, +++ b/PATH, @@ hunks) against the files "
        "as shown, changing what the request needs and the tests that depend on it."
    )
    main = f"File {context.path}:\n```\n{context.source}\n```"
    optional: list[list[str]] = [
        block("Style configuration", context.style),
        ["Recent commits touching it:\n" + "\n".join(context.history)] if context.history else [],
        block("It imports", context.imports),
        block("Imported by", context.importers),
    ]
    cut = False
    while True:
        parts = [main, *[p for group in optional for p in group], ask]
        text = "\n\n".join(parts)
        if count(text) <= budget or not any(optional):
            break
        for group in reversed(optional):  # importers first, style last
            if group:
                group.pop()
                cut = True
                break
    if count(text) > budget:  # the file alone is too long: keep its start
        keep = max(200, len(context.source) * budget // max(1, count(text)) - 200)
        main = f"File {context.path} (cut):\n```\n{context.source[:keep]}\n```"
        text, cut = "\n\n".join([main, ask]), True
    return text, cut


def code_under_test(test_source: str, tracked: list[str]) -> str | None:
    """The workspace module a test file imports first (what its failure is about)."""
    modules = {module_of(f): f for f in tracked if f.endswith(".py")}
    for module in sorted(imported_modules(test_source)):
        if module in modules and "test" not in PurePosixPath(modules[module]).name:
            return modules[module]
    return None
