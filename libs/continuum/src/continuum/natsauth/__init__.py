"""Who may do what on a node's NATS: identities, their permissions, their logins.

Every process of a node connects as its own NATS user, allowed to publish
only the subjects it owns (its contexts' ``evt.*``, its commands, the
JetStream API calls it needs). External tools get the ``ingress`` user:
``ingress.>`` and their own replies, nothing else. The permissions are
declared once here and rendered into the embedded node's ``nats.conf``, the
compose stack's and the Helm chart's (ADR 0014).
"""

from continuum.natsauth.config import authorization_block, password_variable
from continuum.natsauth.logins import NatsLogin, NodeLogins
from continuum.natsauth.permissions import IDENTITIES, INGRESS, MESH, NODE, Identity, identity

__all__ = [
    "IDENTITIES",
    "INGRESS",
    "MESH",
    "NODE",
    "Identity",
    "NatsLogin",
    "NodeLogins",
    "authorization_block",
    "identity",
    "password_variable",
]
