"""Container health check: ``python -m continuum.runtime.healthcheck SERVICE``.

Asks the service's ``cmd.<service>.health`` endpoint over NATS; exit 0 when
it answers healthy, 1 otherwise. Used by Dockerfiles and Kubernetes probes.
"""

from __future__ import annotations

import asyncio
import sys

from continuum.node import probe
from continuum.node.state import resolve_login, resolve_urls
from continuum.runtime.connections import connect_nats
from continuum.settings import Settings


async def check(service: str) -> bool:
    settings = Settings()
    nats_url, _ = resolve_urls(settings)
    login = resolve_login(settings, service)
    nc = await connect_nats(nats_url, name=f"healthcheck-{service}", login=login, connect_timeout=2)
    try:
        return (await probe.health(nc, service, timeout=2)).get("status") == "ok"
    finally:
        await nc.close()


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit("usage: python -m continuum.runtime.healthcheck SERVICE")
    try:
        healthy = asyncio.run(asyncio.wait_for(check(sys.argv[1]), 5))
    except Exception as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0 if healthy else 1)


if __name__ == "__main__":
    main()
