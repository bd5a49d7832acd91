"""The node's AsyncAPI 3.0 document: FastStream's channels and operations for
every command and signal, plus the event catalog.

FastStream generates the command and signal part from a broker that holds a
subscriber per contract (``continuum.contracts``, ``continuum.chat.signals``)
with the contract's pydantic model as its payload: the same classes the
services validate with, so the document cannot drift from what they accept.
That broker is never connected; it exists to be described. Then:

* FastStream's component names (``cmd.scheduler.bid:SubscribeMessage``) are
  not valid AsyncAPI component keys, so they are rewritten (and every
  reference to them);
* channel addresses with ``{parameters}`` get their parameter objects;
* each command's operation gets its ``reply`` (FastStream documents what a
  subscriber takes, not what it answers), with the error headers;
* the event catalog's channels, operations, messages and schemas are added
  (``continuum.events.asyncapi``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from faststream.nats import NatsBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel

from continuum import __version__
from continuum.chat import signals
from continuum.contracts import SERVICE_COMMANDS, Command, health, projection_commands, redrive
from continuum.events.asyncapi import event_catalog_document
from continuum.events.catalog import EventCatalog, catalog
from continuum.mesh.asyncapi import mesh_document
from continuum.runtime.replies import taking

_SAFE_KEY = re.compile(r"[^A-Za-z0-9._-]+")
_PARAMETER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)}")
_PARAMETERS = {
    "service": "a service's name (gateway, scheduler, persona-runtime, genome-registry, "
    "academy, marketplace)",
    "projection": "a projection's name (`continuum events projections` lists them)",
    "consumer": "a consumer that files dead letters (a projection, or gateway-ingress)",
    "room": "a room id",
}
_ERROR_HEADERS = {
    "type": "object",
    "properties": {
        "Nats-Service-Error": {"type": "string", "description": "what was refused, in words"},
        "Nats-Service-Error-Code": {
            "type": "string",
            "description": "400 bad request, 404 unknown, 409 conflict, 500 internal, 503",
        },
    },
}


def node_commands() -> list[Command]:
    """Every command a node answers: the services' own, and what the runtime
    adds to each service (health), projection and dead-letter consumer."""
    runtime = [
        health("{service}"),
        *projection_commands("{projection}")[:2],
        redrive("{consumer}"),
    ]
    return runtime + [c for commands in SERVICE_COMMANDS.values() for c in commands]


def _described(payload: type[BaseModel]) -> Any:
    """A handler FastStream can describe (payload: ``payload``). The broker it
    is registered on is never started, so it never runs."""

    async def describe(body: Any) -> None:
        raise RuntimeError("a specification broker does not handle messages")

    return taking(payload, describe)


def contract_broker() -> NatsBroker:
    """A broker holding every command and signal subscriber of a node."""
    broker = NatsBroker(
        "nats://localhost:4222",
        description="A Continuum node's NATS (the embedded server listens on 4222).",
    )
    for command in node_commands():
        service = command.service if "{" not in command.service else None
        broker.subscriber(
            command.subject,
            queue=service or "",
            title=command.subject,
            description=command.summary,
        )(_described(command.request))
    for subject, model, summary in (
        (signals.PRESENCE_SUBJECT, signals.Presence, "persona-runtime -> scheduler"),
        ("live.chat.{room}", signals.LivePiece, "persona-runtime -> gateway, scheduler"),
        ("ctl.chat.{room}", signals.TurnControl, "scheduler -> persona-runtime"),
    ):
        description = f"{(model.__doc__ or '').strip()} ({summary})"
        broker.subscriber(subject, title=subject, description=description)(_described(model))
    return broker


def _rename(document: dict[str, Any]) -> dict[str, Any]:
    """Make FastStream's channel, operation and message keys valid component
    keys, rewriting every reference to them."""
    text = json.dumps(document)
    for section in ("channels", "operations"):
        for key in list(document[section]):
            safe = _SAFE_KEY.sub("_", key)
            if safe != key:
                quoted = key.replace("{", "%7B").replace("}", "%7D")
                text = text.replace(f'"#/{section}/{quoted}', f'"#/{section}/{safe}')
                text = text.replace(f'"#/{section}/{key}', f'"#/{section}/{safe}')
    for key in list(document["components"]["messages"]):
        safe = _SAFE_KEY.sub("_", key)
        quoted = key.replace("{", "%7B").replace("}", "%7D")
        text = text.replace(f'"#/components/messages/{quoted}"', f'"#/components/messages/{safe}"')
    renamed: dict[str, Any] = json.loads(text)
    for section in ("channels", "operations"):
        renamed[section] = {_SAFE_KEY.sub("_", k): v for k, v in renamed[section].items()}
    messages = renamed["components"]["messages"]
    renamed["components"]["messages"] = {_SAFE_KEY.sub("_", k): v for k, v in messages.items()}
    return renamed


def _parameters(document: dict[str, Any]) -> None:
    for channel in document["channels"].values():
        names = _PARAMETER.findall(channel.get("address") or "")
        if names:
            channel["parameters"] = {
                name: {"description": _PARAMETERS.get(name, name)} for name in names
            }


def _replies(document: dict[str, Any], commands: list[Command]) -> None:
    """Each command's operation answers on the requester's inbox (NATS
    request/reply): a reply channel without an address, and its messages."""
    schemas = document["components"]["schemas"]
    messages = document["components"]["messages"]
    for command in commands:
        key = _SAFE_KEY.sub("_", command.subject)
        operation = document["operations"].get(key)
        if operation is None:
            continue
        reply_model = command.reply
        schema = reply_model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault(reply_model.__name__, schema)
        answer, refused = f"{key}.reply", f"{key}.refused"
        messages[answer] = {
            "title": f"{command.subject} reply",
            "payload": {"$ref": f"#/components/schemas/{reply_model.__name__}"},
        }
        messages[refused] = {
            "title": f"{command.subject} refusal",
            "summary": "Empty body; the error is in the headers (the NATS service API's).",
            "headers": _ERROR_HEADERS,
            "payload": {"type": "string", "maxLength": 0},
        }
        channel = f"{key}.reply"
        document["channels"][channel] = {
            "address": None,
            "description": f"The requester's inbox, for {command.subject}'s answer.",
            "messages": {
                "reply": {"$ref": f"#/components/messages/{answer}"},
                "refused": {"$ref": f"#/components/messages/{refused}"},
            },
        }
        operation["reply"] = {
            "channel": {"$ref": f"#/channels/{channel}"},
            "messages": [
                {"$ref": f"#/channels/{channel}/messages/reply"},
                {"$ref": f"#/channels/{channel}/messages/refused"},
            ],
        }


def _merge(document: dict[str, Any], events: dict[str, Any]) -> None:
    for section in ("channels", "operations"):
        for key, value in events[section].items():
            if key in document[section]:
                raise ValueError(f"{section} {key!r} is both a contract and an event channel")
            document[section][key] = value
    for section in ("messages", "schemas"):
        target = document["components"].setdefault(section, {})
        for key, value in events["components"][section].items():
            if target.setdefault(key, value) != value:
                raise ValueError(f"components/{section}/{key} differs between contracts and events")


def asyncapi_document(event_catalog: EventCatalog = catalog) -> dict[str, Any]:
    spec = AsyncAPI(
        contract_broker(),
        title="Continuum",
        version=__version__,
        description=(
            "A Continuum node's NATS interface. Commands: request/reply on `cmd.<service>.<op>`, "
            "JSON bodies, answered by one instance of the service; refusals carry the NATS "
            "service API's error headers. Signals: advisory core NATS messages, never stored. "
            "Events: structured-mode CloudEvents 1.0 on JetStream, signed with Ed25519 "
            "(extension attribute `signature` over the canonical JSON of all other attributes)."
        ),
        schema_version="3.0.0",
    )
    document = _rename(spec.to_specification().to_jsonable())
    _parameters(document)
    _replies(document, node_commands())
    _merge(document, event_catalog_document(event_catalog))
    _merge(document, mesh_document())
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    return document
