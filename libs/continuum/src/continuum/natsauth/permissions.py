"""The NATS identities of a node and what each may publish and subscribe to.

Publishing is what matters: a subject a process may publish to is a thing it
may say on the node's behalf. So each service may append events only to the
contexts it owns, streams are declared only by the node (the supervisor) and
the operator's CLI, and external tools may only hand events in on
``ingress.>``, where the gateway checks them before anything reaches the log.

Replies come to inboxes, and external tools must read theirs (JetStream's
PubAcks) on the usual ``_INBOX.>``. The node's own processes therefore keep
their inboxes elsewhere, under ``_I.<identity>.`` (set by
:class:`~continuum.natsauth.logins.NatsLogin`): a subscription to
``_INBOX.>`` cannot match them. Denying ``_INBOX.<identity>.>`` to external
tools instead would not do: nats-server checks a wildcard subscription's
deny list against a message's subject, and a JetStream message delivered
to an inbox keeps its stream subject, so the deny never applies to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from continuum.events import catalog  # the package registers every event type
from continuum.genome.blobs import LAYERS_BUCKET, UPLOADS_BUCKET
from continuum.mesh.natsconf import MESH_ACCOUNT
from continuum.mesh.subjects import PEERS_BUCKET

INBOX = "_INBOX"
#: Where the node's own processes receive replies, apart from external tools'.
INTERNAL_INBOX = "_I"

#: What every internal process needs to use JetStream as a consumer, answer
#: and make requests, and dead-letter: no stream may be created, changed,
#: purged or deleted with these (only NODE and CLI declare the topology).
_RUNTIME: tuple[str, ...] = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.>",
    "$JS.API.STREAM.NAMES",
    "$JS.API.STREAM.LIST",
    "$JS.API.STREAM.MSG.GET.>",
    "$JS.API.DIRECT.GET.>",
    "$JS.API.CONSUMER.>",
    "$JS.ACK.>",
    "$JS.FC.>",
    "$SRV.>",
    "cmd.>",
    "dlq.>",
    "$JS.API.STREAM.MSG.DELETE.DLQ",
    f"{INTERNAL_INBOX}.>",  # streamed replies to another process's inbox
)


@dataclass(frozen=True)
class Identity:
    """A NATS user of the node: its name and the subjects it may use."""

    name: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...] = (">",)
    internal: bool = True
    description: str = field(default="", compare=False)
    #: The NATS account the user belongs to: "" = the node's own (``NODE``);
    #: ``MESH`` = the account leaf links are bound to.
    account: str = ""

    @property
    def inbox_prefix(self) -> str:
        """Where this identity's replies arrive: apart from external tools' for
        the node's processes, the usual ``_INBOX`` for external tools."""
        return f"{INTERNAL_INBOX}.{self.name}" if self.internal else INBOX

    @property
    def env_suffix(self) -> str:
        return self.name.upper().replace("-", "_")


def _writes(bucket: str) -> tuple[str, ...]:
    """Putting and deleting objects in one bucket (a put purges a replaced
    object's chunks; a delete writes a tombstone and purges them)."""
    return (f"$O.{bucket}.>", f"$JS.API.STREAM.PURGE.OBJ_{bucket}")


def _events(*contexts: str) -> tuple[str, ...]:
    return tuple(f"evt.{context}.>" for context in contexts)


def _external_contexts() -> tuple[str, ...]:
    """Contexts with event types external publishers may emit: the gateway
    appends those on their behalf."""
    return tuple(sorted({spec.context for spec in catalog if spec.external}))


NODE = "node"
CLI = "cli"
INGRESS = "ingress"
MESH = "mesh"


def _identities() -> dict[str, Identity]:
    declared = [
        Identity(
            NODE,
            ("$JS.API.>", "$O.>", *_events("mesh"), *_RUNTIME),
            description="the supervisor: declares streams, records node events",
        ),
        Identity(
            CLI,
            ("$JS.API.>", "$O.>", "evt.>", *_RUNTIME),
            description="the operator's CLI: signs with the node key, so it may say anything",
        ),
        Identity(
            "gateway",
            (
                *_events("chat", *_external_contexts()),
                *_writes(UPLOADS_BUCKET),
                f"$KV.{PEERS_BUCKET}.>",
                *_RUNTIME,
            ),
            description="appends chat commands and admitted external events; takes uploads; "
            "keeps the mesh's peer view",
        ),
        Identity(
            "scheduler",
            (*_events("chat"), "ctl.chat.>", *_RUNTIME),
            description="decides turns, and tells a generation to stop",
        ),
        Identity(
            "persona-runtime",
            (
                *_events("persona", "chat"),
                "evt.genome.base_model.>",
                "presence.personas",
                "live.chat.>",
                *_RUNTIME,
            ),
            description="personas: their lifecycle, messages, presence, live generations and "
            "the base models they run",
        ),
        Identity(
            "genome-registry",
            (*_events("genome"), *_writes(LAYERS_BUCKET), *_writes(UPLOADS_BUCKET), *_RUNTIME),
            description="layers: manifests and blobs; removes uploads once handled",
        ),
        Identity(
            "academy",
            (*_events("academy"), *_writes(UPLOADS_BUCKET), *_RUNTIME),
            description="training, scoring, A/B tests, evolution",
        ),
        Identity(
            "marketplace",
            (*_events("market"), *_RUNTIME),
            description="listings, the ledger, licences, ratings",
        ),
    ]
    declared.append(
        Identity(
            MESH,
            ("mesh.>",),
            subscribe=("mesh.>",),
            description="the gateway's mesh agent: adverts, routed generations (ciphertext)",
            account=MESH_ACCOUNT,
        )
    )
    declared.append(
        Identity(
            INGRESS,
            ("ingress.>",),
            subscribe=(f"{INBOX}.>",),
            internal=False,
            description="external tools: CloudEvents on ingress.<source>, nothing else",
        )
    )
    return {i.name: i for i in declared}


IDENTITIES: dict[str, Identity] = _identities()


def identity(name: str) -> Identity:
    try:
        return IDENTITIES[name]
    except KeyError:
        raise KeyError(
            f"no NATS identity {name!r}; identities are {', '.join(IDENTITIES)}"
        ) from None


def is_inbox(subject: str) -> bool:
    """Whether ``subject`` is a requester's inbox (a process's or an external tool's)."""
    return subject.startswith((f"{INBOX}.", f"{INTERNAL_INBOX}."))
