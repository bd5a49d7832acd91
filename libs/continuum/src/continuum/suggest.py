"""``did you mean``: the valid names closest to a mistyped one.

Every "unknown X" a user can meet (a persona, a room, a skill, a projection)
ends with the names that would have worked, so a typo costs one retry, not a
search through the docs.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Up to this many known names are listed when none is close.
LISTED = 8


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """``unknown persona 'tacher-ai'; did you mean 'teacher-ai'?`` (or the known names)."""
    choices = sorted(set(known))
    message = f"unknown {what} {name!r}"
    close = difflib.get_close_matches(name, choices, n=2, cutoff=0.8)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = difflib.get_close_matches(name.lower(), list(lowered), n=2, cutoff=0.8)
        close = [lowered[c] for c in close]
    if close:
        return f"{message}; did you mean {' or '.join(repr(c) for c in close)}?"
    if not choices:
        return f"{message} (there are none yet)"
    shown = ", ".join(choices[:LISTED]) + (", ..." if len(choices) > LISTED else "")
    return f"{message}; known: {shown}"
