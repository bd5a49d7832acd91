"""The AsyncAPI document validates with the official parser (@asyncapi/parser,
installed by `make test` from npm into .venv/node where node is available)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from continuum.asyncapi import asyncapi_document, node_commands
from continuum.contracts import SERVICE_COMMANDS

HERE = Path(__file__).parent
PARSER_PREFIX = Path(sys.prefix) / "node"


def _parser_or_skip() -> str:
    node = shutil.which("node")
    installed = (PARSER_PREFIX / "node_modules" / "@asyncapi" / "parser").is_dir()
    if node and installed:
        return node
    reason = "node is not installed" if not node else f"@asyncapi/parser is not in {PARSER_PREFIX}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: `make test` installs it; CI must validate the document")
    pytest.skip(f"{reason} (run `make test` to install it)")


def test_the_asyncapi_document_validates_with_the_official_parser(tmp_path: Path) -> None:
    node = _parser_or_skip()
    document = tmp_path / "asyncapi.json"
    document.write_text(json.dumps(asyncapi_document()))
    result = subprocess.run(
        [node, str(HERE / "asyncapi_validate.mjs"), str(document)],
        env={**os.environ, "ASYNCAPI_PARSER_PREFIX": str(PARSER_PREFIX)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == [], report["errors"][:5]
    assert report["parsed"] and result.returncode == 0


def test_payload_refs_resolve_from_the_document_root() -> None:
    document = asyncapi_document()
    text = json.dumps(document)
    assert '"#/$defs/' not in text and '"$defs"' not in text
    schemas = document["components"]["schemas"]
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        if ref.startswith("#/components/schemas/"):
            assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_every_command_is_an_operation_with_its_request_and_reply() -> None:
    """FastStream documents what each command takes; the document adds what
    it answers (a reply, or a refusal in the error headers)."""
    document = asyncapi_document()
    operations, messages = document["operations"], document["components"]["messages"]
    for command in node_commands():
        key = command.subject.replace("{", "_").replace("}", "_")
        operation = operations[key]
        assert operation["action"] == "receive"
        [request_ref] = operation["messages"]
        channel = document["channels"][request_ref["$ref"].split("/")[2]]
        assert channel["address"] == command.subject
        replies = [r["$ref"].rsplit("/", 1)[-1] for r in operation["reply"]["messages"]]
        assert replies == ["reply", "refused"]
    bid = messages["cmd.scheduler.bid_SubscribeMessage"]["payload"]["$ref"]
    assert bid == "#/components/schemas/BidRequest"
    assert sum(len(c) for c in SERVICE_COMMANDS.values()) + 4 == len(node_commands())


def test_signals_are_documented_from_their_models() -> None:
    document = asyncapi_document()
    channel = document["channels"]["live.chat._room_"]
    assert channel["address"] == "live.chat.{room}"
    assert set(channel["parameters"]) == {"room"}
    assert "LivePiece" in document["components"]["schemas"]
