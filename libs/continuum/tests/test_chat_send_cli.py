"""`continuum chat send` prints the answer, never the user's own message.

The room stream can deliver the user's message before the POST that created it
returns (CI saw this once: the output began with "node admin: ..."). The
gateway is replaced here by a scripted one that forces that order; what is
under test is the CLI's ordering logic, not the gateway.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import pytest
from typer.testing import CliRunner

from continuum.cli import chat_cmds, gateway_client


def _posted(message_id: str, author: str, kind: str, reply_to: str | None = None) -> dict[str, Any]:
    return {
        "kind": "event",
        "event": {
            "type": "evt.chat.message_posted.v1",
            "data": {
                "message_id": message_id,
                "room_id": "lobby",
                "author_name": author,
                "author_kind": kind,
                "status": "complete",
                "text": "hello" if kind == "human" else "an answer",
                "reply_to": reply_to,
            },
        },
    }


def test_the_users_message_is_not_echoed_even_when_the_stream_is_faster_than_the_post(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    echoed = threading.Event()

    def stream(http: object, path: str) -> Iterator[dict[str, Any]]:
        yield _posted("m-human", "node admin", "human")
        echoed.set()
        yield {"kind": "delta", "message_id": "m-answer", "name": "Debugger AI", "text": "an "}
        yield {"kind": "delta", "message_id": "m-answer", "name": "Debugger AI", "text": "answer"}
        yield _posted("m-answer", "Debugger AI", "persona", reply_to="m-human")

    def request(method: str, path: str, **kw: Any) -> Any:
        if method == "POST":
            assert echoed.wait(5)  # the stream already delivered the message
            return {"message_id": "m-human"}
        return {"room_id": "lobby"}

    monkeypatch.setattr(gateway_client, "client", lambda timeout=30.0: nullcontext())
    monkeypatch.setattr(gateway_client, "sse", stream)
    monkeypatch.setattr(gateway_client, "request", request)
    result = CliRunner().invoke(chat_cmds.app, ["send", "lobby", "hello", "--wait", "10"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[0] == "Debugger AI: an answer", result.stdout
    assert "node admin" not in result.stdout
