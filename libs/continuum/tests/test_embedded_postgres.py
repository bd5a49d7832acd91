"""The embedded PostgreSQL wants its generated password, old data directories included."""

from __future__ import annotations

import asyncio
import stat
import subprocess
from pathlib import Path

import asyncpg
import pytest

from continuum.node.embedded import PostgresServer
from continuum.node.ports import free_port


async def _refuses_without_the_password(server: PostgresServer) -> None:
    for url in (
        f"postgresql://postgres@{server.host}:{server.port}/postgres",
        f"postgresql://postgres:guess@{server.host}:{server.port}/postgres",
    ):
        with pytest.raises(asyncpg.InvalidPasswordError):
            await asyncpg.connect(url)
    conn = await asyncpg.connect(server.url_for("postgres"))
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


def test_the_session_server_wants_its_password(postgres_server: PostgresServer) -> None:
    assert stat.S_IMODE(postgres_server.password_path.stat().st_mode) == 0o600
    asyncio.run(_refuses_without_the_password(postgres_server))


def test_a_data_directory_that_trusted_everyone_gets_a_password_on_its_next_start(
    tmp_path: Path,
) -> None:
    server = PostgresServer(tmp_path / "postgres", port=free_port(), database="continuum")
    server.data_dir.mkdir(parents=True)
    server.data_dir.chmod(0o700)
    user = server._run_as()
    subprocess.run(  # what nodes did before passwords
        [server._bin("initdb"), "-D", str(server.data_dir), "--auth=trust", "-U", "postgres"],
        user=user,
        capture_output=True,
        check=True,
    )
    server.start()
    try:
        rules = (server.data_dir / "pg_hba.conf").read_text().splitlines()
        active = [r.split() for r in rules if r.strip() and not r.lstrip().startswith("#")]
        assert active and all(r[-1] == "scram-sha-256" for r in active)
        asyncio.run(_refuses_without_the_password(server))
    finally:
        server.stop()
    server.start()  # and it starts again as it is
    try:
        asyncio.run(_refuses_without_the_password(server))
    finally:
        server.stop()
