"""@mentions: which members a message addresses."""

from __future__ import annotations

import re
from collections.abc import Iterable

_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9][A-Za-z0-9_-]{0,63})")


def _aliases(member_id: str, name: str) -> set[str]:
    """The handles that address a member: its id, its name without spaces and
    the name's first word ("Teacher AI" -> teacher-ai, teacherai, teacher)."""
    words = name.split()
    aliases = {member_id.lower(), "".join(words).lower(), "-".join(words).lower()}
    if words:
        aliases.add(words[0].lower())
    return aliases


def find_mentions(text: str, members: Iterable[tuple[str, str]]) -> list[str]:
    """Ids of the members ``(id, name)`` that ``text`` @mentions, in order of mention."""
    handles = [m.group(1).lower() for m in _MENTION.finditer(text)]
    if not handles:
        return []
    by_alias: dict[str, str] = {}
    for member_id, name in members:
        for alias in _aliases(member_id, name):
            by_alias.setdefault(alias, member_id)
    found: list[str] = []
    for handle in handles:
        member = by_alias.get(handle)
        if member is not None and member not in found:
            found.append(member)
    return found
