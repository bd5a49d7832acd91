"""A proposed change as a unified diff, checked before anything applies it.

A persona's patch is untrusted text. Before ``git apply`` sees it, every
path it names must be a plain relative path inside the workspace: not
absolute, no ``..``, not inside ``.git``, and no symlinks made or written
through (a symlink in the patch, or a path whose existing parent is a
symlink that leads out of the workspace, would let a write land outside).
``git apply`` then decides whether the hunks apply; it refuses symlink
traversal itself too, so the two checks overlap on purpose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

#: The largest patch taken (a persona's change, not a vendored library): it
#: travels in one event, and an event is 64 KiB at most by default.
MAX_PATCH_BYTES = 48 * 1024
SYMLINK_MODE = "120000"
_GIT_HEADER = re.compile(r"^diff --git (\S+) (\S+)$")
_MODE = re.compile(r"^(new file mode|new mode|deleted file mode|old mode) (\d{6})$")


class PatchError(ValueError):
    """A patch that must not be applied; the message says why."""


@dataclass(frozen=True)
class FileChange:
    #: None for a new file.
    old_path: str | None
    #: None for a deleted file.
    new_path: str | None
    mode: str | None = None

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""


def _strip(raw: str) -> str | None:
    if raw == "/dev/null":
        return None
    if raw.startswith(("a/", "b/")):
        return raw[2:]
    return raw


def parse_patch(text: str) -> list[FileChange]:
    """The files a unified diff touches (git's extended headers understood)."""
    try:
        size = len(text.encode())
    except UnicodeEncodeError:
        raise PatchError("the patch is not valid text (a lone surrogate)") from None
    if size > MAX_PATCH_BYTES:
        raise PatchError(f"the patch is larger than {MAX_PATCH_BYTES // 1024} KiB")
    if "\x00" in text:
        raise PatchError("the patch holds a NUL byte (binary patches are not taken)")
    changes: list[FileChange] = []
    old: str | None = None
    mode: str | None = None
    in_git_header = False
    for line in text.splitlines():
        if match := _GIT_HEADER.match(line):
            old, mode, in_git_header = _strip(match.group(1)), None, True
            continue
        if match := _MODE.match(line):
            mode = match.group(2) if match.group(1) != "old mode" else mode
            continue
        if line.startswith("GIT binary patch") or line.startswith("Binary files "):
            raise PatchError("binary patches are not taken")
        if line.startswith(("rename from ", "copy from ")):
            old = line.split(" ", 2)[2]
            continue
        if line.startswith(("rename to ", "copy to ")) and in_git_header:
            changes.append(FileChange(old, line.split(" ", 2)[2], mode))
            in_git_header = False
            continue
        if line.startswith("--- "):
            old = _strip(line[4:].split("\t", 1)[0].strip())
            continue
        if line.startswith("+++ "):
            new = _strip(line[4:].split("\t", 1)[0].strip())
            changes.append(FileChange(old, new, mode))
            in_git_header, mode = False, None
    if not changes:
        raise PatchError("not a unified diff: no '--- a/FILE' / '+++ b/FILE' headers")
    return changes


def _relative(path: str) -> PurePosixPath:
    pure = PurePosixPath(path)
    if pure.is_absolute() or not path or "\\" in path:
        raise PatchError(f"{path!r} is not a path inside the workspace")
    if any(part in ("..", "") for part in pure.parts) or path != str(pure):
        raise PatchError(f"{path!r} leaves the workspace (no '..' or odd paths)")
    if pure.parts[0] == ".git":
        raise PatchError(f"{path!r} is inside .git: a patch changes files, not the repository")
    return pure


def check_patch(text: str, root: Path) -> list[FileChange]:
    """Parse ``text`` and check every path against the workspace at ``root``."""
    changes = parse_patch(text)
    real_root = root.resolve()
    for change in changes:
        if change.mode == SYMLINK_MODE:
            raise PatchError(f"{change.path!r} would be a symlink: a patch may not make one")
        for path in (change.old_path, change.new_path):
            if path is None:
                continue
            target = real_root / _relative(path)
            # Whatever exists of it must resolve inside the workspace: a symlinked
            # directory (or file) that points out would carry the write out with it.
            probe = target
            while not probe.exists() and not probe.is_symlink() and probe != real_root:
                probe = probe.parent
            if probe.is_symlink():
                raise PatchError(
                    f"{path!r} goes through a symlink ({probe.relative_to(real_root)})"
                )
            resolved = probe.resolve()
            if resolved != real_root and real_root not in resolved.parents:
                raise PatchError(f"{path!r} leads outside the workspace")
    return changes
