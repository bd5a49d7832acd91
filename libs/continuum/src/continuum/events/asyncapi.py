"""The event catalog's part of the node's AsyncAPI 3.0 document (``continuum.asyncapi``).

External tools read this to learn every subject, type and payload schema
without reading Python; it is produced from the same pydantic models the
services validate with, so it cannot drift.
"""

from __future__ import annotations

from typing import Any

from continuum import __version__
from continuum.events.catalog import EventCatalog, catalog
from continuum.events.envelope import Envelope

#: Where shared payload schemas live: every ``$ref`` resolves from the
#: document root, so a model's ``$defs`` are hoisted into components.
REF_TEMPLATE = "#/components/schemas/{model}"


def _envelope_schema(data_schema: dict[str, Any], event_type: str) -> dict[str, Any]:
    schema = Envelope.model_json_schema(ref_template=REF_TEMPLATE)
    schema["properties"]["type"] = {"const": event_type, "type": "string"}
    schema["properties"]["data"] = data_schema
    schema["title"] = event_type
    return schema


def hoist(schema: dict[str, Any], shared: dict[str, Any], owner: str) -> dict[str, Any]:
    """Move ``schema``'s ``$defs`` into ``shared`` (the document's
    components/schemas); two models may share a name only if they agree."""
    for name, definition in schema.pop("$defs", {}).items():
        if shared.setdefault(name, definition) != definition:
            raise ValueError(f"{owner}: schema {name!r} differs from another of the same name")
    return schema


def event_catalog_document(event_catalog: EventCatalog = catalog) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for spec in event_catalog:
        channel_id = f"{spec.context}.{spec.aggregate}"
        message_id = spec.type.replace(".", "_")
        data_schema = hoist(
            spec.model.model_json_schema(ref_template=REF_TEMPLATE), schemas, spec.type
        )
        messages[message_id] = {
            "name": spec.type,
            "title": spec.model.__name__,
            "summary": spec.description,
            "contentType": "application/cloudevents+json",
            "headers": {
                "type": "object",
                "properties": {
                    "Nats-Msg-Id": {"type": "string", "description": "the event id (dedupe)"},
                    "traceparent": {"type": "string", "description": "W3C trace context"},
                },
            },
            "payload": hoist(_envelope_schema(data_schema, spec.type), schemas, spec.type),
            "x-continuum-external": spec.external,
        }
        channel = channels.setdefault(
            channel_id,
            {
                "address": f"evt.{spec.context}.{spec.aggregate}.{{aggregateId}}",
                "description": (
                    f"Events of {spec.aggregate} aggregates (stream EVT_{spec.context.upper()})."
                ),
                "parameters": {
                    "aggregateId": {"description": "aggregate id: [A-Za-z0-9_-]{1,128}"}
                },
                "messages": {},
            },
        )
        channel["messages"][message_id] = {"$ref": f"#/components/messages/{message_id}"}
    for channel_id, channel in channels.items():
        refs = [{"$ref": f"#/channels/{channel_id}/messages/{mid}"} for mid in channel["messages"]]
        operations[f"publish.{channel_id}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": refs,
        }
        operations[f"consume.{channel_id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "messages": refs,
        }
    external = [s.type.replace(".", "_") for s in event_catalog if s.external]
    if external:
        channels["ingress"] = {
            "address": "ingress.{source}",
            "description": (
                "Where external tools publish CloudEvents (NATS protocol binding: structured "
                "mode with Content-Type application/cloudevents+json, batched mode with "
                "application/cloudevents-batch+json, or binary mode with ce-* headers). The "
                "gateway validates each event and appends it to its stream; rejected ones go "
                "to the DLQ stream (subject dlq.gateway-ingress) with the reason."
            ),
            "parameters": {"source": {"description": "free-form name of the publishing tool"}},
            "messages": {mid: {"$ref": f"#/components/messages/{mid}"} for mid in external},
        }
        operations["publish.ingress"] = {
            "action": "send",
            "channel": {"$ref": "#/channels/ingress"},
            "messages": [{"$ref": f"#/channels/ingress/messages/{mid}"} for mid in external],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Continuum events",
            "version": __version__,
            "description": (
                "Structured-mode CloudEvents 1.0 on NATS JetStream, signed with Ed25519 "
                "(extension attribute `signature` over the canonical JSON of all other attributes)."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": dict(sorted(schemas.items()))},
    }
