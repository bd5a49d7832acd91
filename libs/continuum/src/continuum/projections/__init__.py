"""Projections: read models in Postgres with exactly-once effects."""

from continuum.projections.deadletters import DeadLetter, DeadLetterQueue
from continuum.projections.projection import Projection, Subscription
from continuum.projections.runner import ProjectionRunner, RetryPolicy

__all__ = [
    "DeadLetter",
    "DeadLetterQueue",
    "Projection",
    "ProjectionRunner",
    "RetryPolicy",
    "Subscription",
]
