"""Continuum's shared backbone.

Subpackages: ``events`` (envelope, catalog, signatures), ``store`` (the
JetStream event store and stream topology), ``projections`` (exactly-once read
models in Postgres), ``runtime`` (the base every service runs on), ``node``
(the embedded servers and the supervisor) and ``cli``.
"""

__version__ = "0.1.0"
