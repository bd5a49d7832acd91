"""The OpenAPI document as the server really behaves.

FastAPI documents what handlers declare; the gateway's shared machinery
answers more than that, so this completes the document once, in one place:

* every operation lists the errors that can really come back (auth 401/403,
  the rate limit's 429, the JSON input policy's 400, a missing resource's
  404, a conflict's 409, the body limit's 413, validation's 422, an outage's
  503), each with the one error body the API uses;
* every free-text string of a request says what the input policy refuses
  (NUL and lone surrogates), so a generator that reads the document
  produces only what the server takes;
* ``POST /v1/events`` names its binary-mode ``ce-*`` headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer", "description": "The HTTP status, repeated."},
                "message": {"type": "string", "description": "What was wrong, in words."},
            },
        }
    },
}

#: Strings the input policy accepts: no NUL. (Lone surrogates cannot be
#: written in valid UTF-8 JSON text at all, so the pattern need not say so.)
TEXT_PATTERN = "^[^\\u0000]*$"

_ERRORS = {
    400: "The input breaks a rule that is not in its schema (the JSON input policy: "
    "nesting deeper than 64 levels, NUL, lone surrogates; or a rule of the domain).",
    401: "No API token, or an invalid or revoked one.",
    403: "The token lacks the scope this operation needs.",
    404: "Something the request names does not exist.",
    409: "The request conflicts with the current state (it already exists, it changed "
    "meanwhile, it is closed).",
    413: "The body is larger than the limit.",
    415: "The body's Content-Type is not one this operation reads.",
    422: "The input does not match the operation's schema; the message names the field.",
    429: "The token's rate limit is exceeded; Retry-After says when to retry.",
    503: "A backing server (NATS, PostgreSQL) or service is unavailable; retrying is safe.",
}
_ALWAYS = (401, 403, 422, 429, 503)
_WITH_BODY = (400, 404, 409, 413, 415)
_PUBLIC = {"/healthz", "/readyz"}
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

CE_HEADERS = {
    "ce-specversion": "Binary mode: the CloudEvents spec version, 1.0.",
    "ce-id": "Binary mode: the event id (a UUID; re-sending an id is safe).",
    "ce-source": "Binary mode: who produced the event.",
    "ce-type": "Binary mode: the event type, continuum.<context>.<event>.v<N>.",
    "ce-subject": "Binary mode: the aggregate id.",
    "ce-time": "Binary mode (optional): when it happened, RFC 3339.",
}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Complete FastAPI's document in place (see the module docstring)."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error_ref = {"$ref": "#/components/schemas/Error"}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None or path in _PUBLIC:
                continue
            responses = operation.setdefault("responses", {})
            codes = list(_ALWAYS)
            if "requestBody" in operation or method in ("post", "put", "patch", "delete"):
                codes += _WITH_BODY
            if "{" in path or any(p.get("in") == "query" for p in operation.get("parameters", [])):
                codes += (400, 404)
            for code in sorted(set(codes)):
                responses[str(code)] = {
                    "description": _ERRORS[code],
                    "content": {"application/json": {"schema": error_ref}},
                }
            for code, response in responses.items():  # errors a route declares itself
                if code.startswith(("4", "5")) and "content" not in response:
                    response["content"] = {"application/json": {"schema": error_ref}}
            for parameter in operation.get("parameters", []):
                _constrain_text(parameter.get("schema"))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _constrain_text(media.get("schema"))
    _hoist_defs(document.get("paths", {}), components["schemas"])
    for schema in components["schemas"].values():
        _constrain_text(schema)
    events = document.get("paths", {}).get("/v1/events", {}).get("post")
    if events is not None:
        events.setdefault("parameters", []).extend(
            {
                "name": name,
                "in": "header",
                "required": False,
                "description": description,
                "schema": {"type": "string"},
            }
            for name, description in CE_HEADERS.items()
        )
    return document


def _objects(root: Any) -> Iterator[dict[str, Any]]:
    """Every JSON object under ``root`` (iteratively; a visitor may add to
    the object it is given, and what it adds is visited too)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            yield node
            stack.extend(v for v in node.values() if isinstance(v, dict | list))


def _constrain_text(schema: Any) -> None:
    """Give each free-text string schema under ``schema`` the policy's pattern."""
    for node in _objects(schema):
        if node.get("type") == "string" and not {"pattern", "format", "enum", "const"} & set(node):
            node["pattern"] = TEXT_PATTERN
        if node.get("type") == "object" and "properties" not in node:
            node.setdefault("propertyNames", {"pattern": TEXT_PATTERN})


def _hoist_defs(root: Any, shared: dict[str, Any]) -> None:
    """Move every ``$defs`` under ``root`` (from schemas written by hand with
    pydantic) into components/schemas, and point their ``$ref``s there: a
    ``#/$defs/X`` would otherwise resolve from the document's root."""
    for node in _objects(root):
        for name, definition in node.pop("$defs", {}).items():
            shared.setdefault(name, definition)
            _hoist_defs(definition, shared)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            node["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
