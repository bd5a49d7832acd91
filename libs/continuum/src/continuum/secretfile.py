"""Secrets kept in files only their owner can read (mode 0600).

A node's generated passwords live under its home, next to its signing key:
created once, atomically (no reader ever sees half a file, two processes
racing to create one agree on the winner), and never widened afterwards.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from pathlib import Path

_ALPHANUMERIC = string.ascii_letters + string.digits
#: What :func:`new_password` makes. nats-server parses a password taken from
#: an environment variable as a config value, so "-12ab" or "1234" would not
#: be read as a string: a letter first, then letters and digits, is.
PASSWORD_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9]{15,127}$")


def new_password() -> str:
    """A letter and 42 letters or digits (over 250 random bits): safe unquoted
    in a URL's userinfo, a shell, and a nats.conf variable."""
    return secrets.choice(string.ascii_letters) + "".join(
        secrets.choice(_ALPHANUMERIC) for _ in range(42)
    )


def _private_tmp(path: Path, text: str) -> Path:
    """``text`` in a new 0600 file beside ``path`` (its final name not taken yet)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return tmp


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, mode 0600, atomically: a reader sees the
    old file or the new one, never half of it."""
    _private_tmp(path, text).replace(path)


def read_or_create(path: Path, make: str | None = None) -> str:
    """The secret in ``path``; if there is none, write ``make`` (or a new
    password) there with mode 0600 first."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = make if make is not None else new_password()
    tmp = _private_tmp(path, value + "\n")
    try:
        os.link(tmp, path)  # fails if another process created it meanwhile
    except FileExistsError:
        tmp.unlink()
        return path.read_text().strip()
    tmp.unlink()
    return value
