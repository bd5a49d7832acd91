"""`continuum chat ...`: rooms, messages, live tails and why a persona spoke."""

from __future__ import annotations

import queue
import re
import threading
import time
from typing import Any

import httpx
import typer
from rich.table import Table
from rich.text import Text

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, err_console, print_table, shorten

app = typer.Typer(help="Chat rooms shared by humans and personas.", no_args_is_help=True)


@app.command("rooms")
def rooms() -> None:
    """List rooms."""
    rooms = gateway_client.request("GET", "/v1/rooms")["rooms"]
    print_table(
        "rooms",
        ("id", "name", "members", "messages", "policy", "topic"),
        [
            (
                room["room_id"],
                room["name"],
                str(room["members"]),
                str(room["messages"]),
                f"{room['policy']['policy']}, {room['policy']['preemption']}",
                shorten(room["topic"], 50),
            )
            for room in rooms
        ],
        optional=("messages", "name", "members"),
    )


@app.command("create")
def create(
    room_id: str = typer.Argument(..., help="Room id: lower case letters, digits, - and _."),
    topic: str = typer.Option("", help="What the room is about (personas see it)."),
    policy: str = typer.Option("best-bid", help="best-bid, round-robin or top-k."),
    k: int = typer.Option(2, help="Speakers per turn for top-k."),
    preemption: str = typer.Option("interrupt", help="interrupt, queue or reject."),
    turns_per_minute: int = typer.Option(30, help="Turn budget (0: none)."),
    persona: list[str] = typer.Option([], "--persona", "-p", help="Persona to add (repeat)."),
) -> None:
    """Create a room with its personas: all of them, or (one unknown) nothing."""
    body = {
        "id": room_id,
        "topic": topic,
        "policy": {
            "policy": policy,
            "k": k,
            "preemption": preemption,
            "turns_per_minute": turns_per_minute,
        },
        "personas": persona,
    }
    gateway_client.request("POST", "/v1/rooms", json=body)
    console.print(f"room [bold]{room_id}[/] created")


@app.command("policy")
def policy(
    room_id: str,
    policy: str = typer.Option(None, help="best-bid, round-robin or top-k."),
    k: int = typer.Option(None, help="Speakers per turn for top-k."),
    preemption: str = typer.Option(None, help="interrupt, queue or reject."),
    window_ms: int = typer.Option(None, help="Bid window in ms."),
    min_confidence: float = typer.Option(None, help="Bids under this do not compete."),
    turns_per_minute: int = typer.Option(None, help="Turn budget (0: none)."),
    tokens_per_minute: int = typer.Option(None, help="Token budget (0: none)."),
) -> None:
    """Show a room's policy, or change parts of it."""
    current = gateway_client.request("GET", f"/v1/rooms/{room_id}")["policy"]
    changes = {
        key: value
        for key, value in (
            ("policy", policy),
            ("k", k),
            ("preemption", preemption),
            ("window_ms", window_ms),
            ("min_confidence", min_confidence),
            ("turns_per_minute", turns_per_minute),
            ("tokens_per_minute", tokens_per_minute),
        )
        if value is not None
    }
    if changes:
        current = gateway_client.request(
            "PUT", f"/v1/rooms/{room_id}/policy", json={**current, **changes}
        )["policy"]
    table = Table(title=f"{room_id} policy", show_header=False)
    for key, value in sorted(current.items()):
        table.add_row(key, str(value))
    console.print(table)


@app.command("join")
def join(room_id: str, persona: str = typer.Argument(..., help="Persona id or name.")) -> None:
    """Add a persona to a room."""
    room = gateway_client.request(
        "POST", f"/v1/rooms/{room_id}/members", json={"member_id": persona, "kind": "persona"}
    )
    console.print(f"{room_id}: {', '.join(m['name'] for m in room['members'])}")


@app.command("leave")
def leave(room_id: str, member: str) -> None:
    """Remove a member from a room."""
    gateway_client.request("DELETE", f"/v1/rooms/{room_id}/members/{member}")
    console.print(f"{member} left {room_id}")


@app.command("close")
def close(room_id: str) -> None:
    """Close a room: it leaves the room list and takes no more messages (admin)."""
    gateway_client.request("DELETE", f"/v1/rooms/{room_id}")
    console.print(f"{room_id} is closed")


def _print_message(message: dict[str, Any]) -> None:
    line = Text.assemble((message["author_name"], "bold"))
    if message["status"] != "complete":
        line.append(f" ({_status(message)})", style="yellow")
    console.print(line + Text(": ") + Text(message["text"]), highlight=False)


def _status(message: dict[str, Any]) -> str:
    """``failed: the backend stopped answering``: a status with its reason."""
    error = message.get("error") or ""
    return f"{message['status']}: {error}" if error else str(message["status"])


class _Tail:
    """Prints a room's stream: decisions, streamed answers, messages."""

    def __init__(self, watch: str | None = None) -> None:
        self.watch = watch  # a message id whose answers we wait for
        self.streaming: dict[str, bool] = {}
        self.answered: list[dict[str, Any]] = []
        #: Answers that failed; the scheduler passes the turn on after each.
        self.failed: list[dict[str, Any]] = []
        self.decided = False
        self.nobody: str | None = None

    def item(self, item: dict[str, Any]) -> None:
        kind = item.get("kind")
        if kind == "delta":
            if item["message_id"] not in self.streaming:
                self.streaming[item["message_id"]] = True
                console.print(f"[bold]{item['name']}[/]: ", end="")
            console.print(item["text"], end="", markup=False, highlight=False)
            return
        if kind != "event":
            return
        event = item["event"]
        data = event["data"]
        kind_name = event["type"].split(".")[-2]
        if kind_name == "message_posted":
            if data["message_id"] in self.streaming:
                console.print()
                if data["status"] != "complete":
                    console.print(Text(f"  ({_status(data)})", style="yellow"))
            elif data["message_id"] != self.watch and (
                self.watch is None or data["author_kind"] == "persona"
            ):
                _print_message(data)
            if self.watch and data.get("reply_to") == self.watch:
                (self.failed if data["status"] == "failed" else self.answered).append(data)
        elif kind_name == "decided":
            if self.watch is None or data["trigger_message_id"] == self.watch:
                winners = ", ".join(data["winners"]) or "nobody"
                err_console.print(
                    f"[dim]turn → {winners}: {data['reason']} "
                    f"({len(data['bids'])} bids, {data['window_ms']:.0f} ms window)[/]"
                )
                if data["trigger_message_id"] == self.watch:
                    self.decided = True
                    # A failed answer's turn is granted again: only the last word counts.
                    self.nobody = None if data["winners"] else data["reason"]
        elif kind_name == "preempted":
            err_console.print(f"[dim]preempted {data['persona_id']}: {data['reason']}[/]")


@app.command("send")
def send(
    room_id: str,
    text: str,
    author: str = typer.Option("", help="Your name in the room (default: the token's name)."),
    wait: float = typer.Option(120.0, help="Seconds to wait for the answer (0: do not wait)."),
) -> None:
    """Say something in a room and stream the answer it gets."""
    body: dict[str, Any] = {"text": text}
    if author:
        body["author"] = author
    if wait <= 0:
        posted = gateway_client.request("POST", f"/v1/rooms/{room_id}/messages", json=body)
        console.print(posted["message_id"])
        return
    # The stream thread only queues what it reads; this thread prints it once it
    # knows its own message id, so the user's message is never echoed back even
    # when the stream delivers it before the POST returns.
    tail = _Tail()
    ready = threading.Event()
    items: queue.Queue[dict[str, Any] | BaseException | None] = queue.Queue()

    def follow() -> None:
        try:
            with gateway_client.client() as http:
                stream = gateway_client.sse(http, f"/v1/rooms/{room_id}/stream")
                ready.set()
                for item in stream:
                    items.put(item)
        except BaseException as exc:
            items.put(exc)
        finally:
            items.put(None)
            ready.set()

    # Subscribe first, so nothing of the answer is missed.
    gateway_client.request("GET", f"/v1/rooms/{room_id}")
    threading.Thread(target=follow, daemon=True).start()
    ready.wait(10)
    time.sleep(0.2)
    if not items.empty() and isinstance(first := items.queue[0], BaseException):
        raise CliError(str(first))
    posted = gateway_client.request("POST", f"/v1/rooms/{room_id}/messages", json=body)
    tail.watch = posted["message_id"]
    err_console.print(f"[dim]sent {posted['message_id']}[/]")
    deadline = time.monotonic() + wait
    while not (tail.answered or tail.nobody):
        try:
            item = items.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if item is None:
            break
        if isinstance(item, BaseException):
            if not isinstance(item, httpx.RemoteProtocolError):
                raise CliError(str(item))
            break
        tail.item(item)
    if tail.nobody:
        what = "no answer" if tail.failed else "no persona took the turn"
        raise CliError(f"{what}: {tail.nobody}")
    if not tail.answered:
        raise CliError(f"no answer within {wait:g} s")
    else:
        err_console.print(
            f"[dim]`continuum chat why {tail.answered[0]['message_id']}` explains the choice[/]"
        )


@app.command("tail")
def tail(room_id: str) -> None:
    """Follow a room live (Ctrl-C to stop)."""
    printer = _Tail()
    with gateway_client.client() as http:
        for message in gateway_client.request("GET", f"/v1/rooms/{room_id}/messages")["messages"]:
            _print_message(message)
        try:
            for item in gateway_client.sse(http, f"/v1/rooms/{room_id}/stream"):
                printer.item(item)
        except KeyboardInterrupt:
            return


_MESSAGE_ID = re.compile(r"^[0-9a-f]{32}$")


def _latest_answer(room_id: str) -> str:
    """The id of the latest message a persona said in ``room_id``."""
    messages = gateway_client.request("GET", f"/v1/rooms/{room_id}/messages")["messages"]
    answers = [m for m in messages if m["author_kind"] == "persona"]
    if not answers:
        raise CliError(f"no persona has answered in {room_id!r} yet")
    return str(answers[-1]["message_id"])


@app.command("why")
def why(
    message: str = typer.Argument(
        ..., help="A message id, or a room: its latest persona answer is explained."
    ),
) -> None:
    """Why a persona spoke (or who answered a message): every bid, the winner, the reasons."""
    message_id = message if _MESSAGE_ID.match(message) else _latest_answer(message)
    answer = gateway_client.request("GET", f"/v1/messages/{message_id}/why")
    said = answer["message"]
    console.print(
        Text.assemble((said["author_name"], "bold"), f" in {said['room_id']}: ")
        + Text(said["text"][:120])
    )
    if not answer["decisions"]:
        console.print("no turn decision concerns this message")
        return
    for decision in answer["decisions"]:
        table = Table(
            title=f"turn {decision['turn_id']} ({decision['policy']}): {decision['reason']}"
        )
        for column in ("persona", "priority", "confidence", "waited", "score", "outcome"):
            table.add_column(column)
        ranked = sorted(decision["bids"], key=lambda b: -b["score"])
        for scored in ranked:
            bid = scored["bid"]
            outcome = (
                "[green]won[/]"
                if scored["won"]
                else ("lost" if scored["eligible"] else "[dim]out[/]")
            )
            table.add_row(
                bid["name"],
                str(bid["priority"]),
                f"{bid['confidence']:.2f}",
                str(scored["waited_turns"]),
                f"{scored['score']:.3f}",
                outcome,
            )
        console.print(table)
        for scored in ranked:
            bid = scored["bid"]
            reason = scored["reason"].removeprefix("won: ")
            signals = f"; {bid['rationale']}" if bid["rationale"] else ""
            console.print(f"  [bold]{bid['name']}[/]: {reason}{signals}")
        if decision.get("missing"):
            console.print(f"did not bid in time: {', '.join(decision['missing'])}")
        console.print(
            f"window {decision['window_ms']:.0f} ms, "
            f"arbitration {decision['arbitration_ms']:.2f} ms"
            + (f", regrant of {decision['regrant_of']}" if decision.get("regrant_of") else "")
        )
    for event in answer["turn_events"]:
        console.print(
            f"{event['kind']}: {event['persona_id']} "
            f"{event.get('outcome') or event.get('action')} {event.get('reason', '')}"
        )
