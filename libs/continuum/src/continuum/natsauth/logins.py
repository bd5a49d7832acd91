"""Logins: a user and password to connect with, and where a node keeps them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from continuum.natsauth.config import password_variable
from continuum.natsauth.permissions import IDENTITIES, INBOX, identity
from continuum.secretfile import new_password, write_private


@dataclass(frozen=True)
class NatsLogin:
    """How one process authenticates to NATS. The password never shows in a repr."""

    user: str
    password: str = field(repr=False)

    @property
    def inbox_prefix(self) -> str:
        """Where replies to this login arrive: ``_I.<identity>`` for the node's
        own processes (apart from the ``_INBOX`` external tools may read), the
        default for a user the node does not declare."""
        known = IDENTITIES.get(self.user)
        return known.inbox_prefix if known is not None else INBOX

    def url(self, url: str) -> str:
        """``url`` with this login in its userinfo, for tools that take one URL."""
        parts = urlsplit(url)
        host = parts.netloc.rsplit("@", 1)[-1]
        userinfo = f"{quote(self.user, safe='')}:{quote(self.password, safe='')}"
        return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


class NodeLogins:
    """Every identity's password for one node, in ``<home>/nats/logins.json``
    (mode 0600), created on first use. nats-server gets them as environment
    variables (:meth:`server_env`), each process only its own login."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._passwords = self._load_or_create()

    @staticmethod
    def path_in(home: Path) -> Path:
        return home / "nats" / "logins.json"

    @classmethod
    def of_home(cls, home: Path) -> NodeLogins:
        return cls(cls.path_in(home))

    @classmethod
    def read(cls, home: Path) -> NodeLogins | None:
        """The logins of an existing node, or None where it has none (yet)."""
        path = cls.path_in(home)
        return cls(path) if path.exists() else None

    def _load_or_create(self) -> dict[str, str]:
        passwords: dict[str, str] = {}
        try:
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                passwords = {str(k): str(v) for k, v in loaded.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"cannot read NATS logins {self.path}: {exc}") from None
        missing = [name for name in IDENTITIES if not passwords.get(name)]
        if missing:
            passwords.update({name: new_password() for name in missing})
            self._write(passwords)
        return passwords

    def _write(self, passwords: dict[str, str]) -> None:
        write_private(self.path, json.dumps(passwords, indent=2))

    def login(self, name: str) -> NatsLogin:
        return NatsLogin(identity(name).name, self._passwords[name])

    def server_env(self) -> dict[str, str]:
        """What nats-server needs in its environment to resolve the passwords."""
        return {password_variable(i): self._passwords[n] for n, i in IDENTITIES.items()}
