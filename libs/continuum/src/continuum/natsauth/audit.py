"""What nats-server refused: permission violations, read from its log.

A node's permissions are only right if no process of it ever needs more, so
tests of whole nodes end by asking the server's log what it refused.
"""

from __future__ import annotations

import re
from pathlib import Path

_VIOLATION = re.compile(
    r'"(?:\$G|NODE|MESH)/user:(?P<user>[^"]+)" - (?P<kind>\w+) Violation - '
    r'Subject "(?P<subject>[^"]+)"'
)


def violations(log_path: Path) -> list[str]:
    """``user: Publish|Subscription subject`` for each refusal in a nats-server log."""
    try:
        text = log_path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    return [f"{m['user']}: {m['kind']} {m['subject']}" for m in _VIOLATION.finditer(text)]
