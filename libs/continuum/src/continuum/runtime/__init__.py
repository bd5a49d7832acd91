"""The service runtime: the one base every Continuum service runs on."""

from continuum.runtime.connections import connect_nats, create_pool
from continuum.runtime.migrations import Migration, migrate
from continuum.runtime.service import RequestError, Service, ServiceContext, run_service, serve

__all__ = [
    "Migration",
    "RequestError",
    "Service",
    "ServiceContext",
    "connect_nats",
    "create_pool",
    "migrate",
    "run_service",
    "serve",
]
