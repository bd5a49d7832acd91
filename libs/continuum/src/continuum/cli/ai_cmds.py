"""`continuum ai generate` (``jtag ai/generate``): one persona, one prompt, streamed."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import typer
from nats.aio.msg import Msg
from rich.table import Table

from continuum.cli.common import (
    CliError,
    connect,
    console,
    err_console,
    request_json,
    run,
    settings,
)
from continuum.mesh.routing import WEIGHTS

app = typer.Typer(help="Direct calls to a persona's model.", no_args_is_help=True)


@app.command("generate")
def generate(
    prompt: str = typer.Option(..., "--prompt", help="What to ask."),
    persona: str = typer.Option("Helper AI", "--persona", help="Persona id or name."),
    mesh: str = typer.Option(
        "local",
        "--mesh",
        help="Where to run: local (this node), lan, global, or a node (id, id prefix or name).",
    ),
    max_tokens: int = typer.Option(0, "--max-tokens", min=0, help="Cap on generated tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON at the end."),
    why: bool = typer.Option(False, "--why", help="Show every candidate node and its score."),
) -> None:
    """Stream a persona's answer to a prompt to the terminal."""
    if mesh != "local" or why:
        _routed(prompt, persona, mesh, max_tokens, as_json, why)
        return

    async def piece(msg: Msg) -> None:
        if not as_json:
            console.print(msg.data.decode(errors="replace"), end="", markup=False)

    body: dict[str, object] = {"persona": persona, "prompt": prompt}
    if max_tokens:
        body["max_tokens"] = max_tokens
    result = run(_streamed("cmd.persona-runtime.generate", body, piece))
    if as_json:
        console.print(json.dumps(result, indent=2), markup=False)
        return
    console.print()
    first = result.get("first_token_ms")
    err_console.print(
        f"[dim]{result['persona']} via {result['backend']}: {result['tokens']} tokens, "
        f"first after {first:.0f} ms, {result['duration_ms']:.0f} ms in all[/]"
        if isinstance(first, float)
        else f"[dim]{result['persona']} via {result['backend']}: nothing generated[/]"
    )
    if result.get("status") == "failed":
        raise CliError(f"generation failed: {result.get('error')}")


def _routed(
    prompt: str, persona: str, mesh: str, max_tokens: int, as_json: bool, why: bool
) -> None:
    """Through the node's mesh router: the best node for the persona within
    ``mesh``, moving to the next one if it dies mid-answer."""

    async def frame(msg: Msg) -> None:
        item = json.loads(msg.data)
        if as_json:
            return
        if item.get("kind") == "piece":
            console.print(str(item.get("text", "")), end="", markup=False)
        elif item.get("kind") == "moved":
            err_console.print(
                f"\n[yellow]⇢ moved to {str(item.get('to'))[:12]} after "
                f"{item.get('after_chars')} characters ({item.get('reason')})[/]"
            )

    body: dict[str, object] = {"prompt": prompt, "persona": persona, "mesh": mesh}
    if max_tokens:
        body["max_tokens"] = max_tokens
    result = run(_streamed("cmd.gateway.mesh.generate", body, frame))
    if as_json:
        console.print(json.dumps(result, indent=2), markup=False)
        return
    console.print()
    if why:
        console.print(candidates_table(result.get("candidates")))
    route = result.get("route")
    steps: list[dict[str, object]] = route if isinstance(route, list) else []
    hops = " → ".join(str(step.get("name") or step.get("node", ""))[:16] for step in steps)
    err_console.print(f"[dim]{result.get('tokens')} pieces via {hops or 'nobody'}[/]")
    if result.get("status") != "complete":
        raise CliError(f"generation failed: {result.get('error')}")


def candidates_table(candidates: object) -> Table:
    """Every node considered, best first, with its score's parts (``--why``)."""
    formula = " + ".join(f"{weight:.2f} {part}" for part, weight in WEIGHTS.items())
    table = Table(title=f"candidates (score = {formula})", title_justify="left")
    for column in ("node", "persona", "score", *WEIGHTS, "note"):
        table.add_column(column)
    for c in candidates if isinstance(candidates, list) else []:
        parts = c.get("parts", {})
        where = "this node" if c.get("local") else f"{c.get('name')} ({str(c.get('node'))[:12]})"
        table.add_row(
            where,
            str(c.get("persona_name")),
            f"{c.get('score', 0):.3f}",
            *(f"{parts.get(part, 0):.2f}" for part in WEIGHTS),
            str(c.get("excluded") or ""),
        )
    return table


async def _streamed(
    subject: str, body: dict[str, object], on_message: Callable[[Msg], Awaitable[None]]
) -> dict[str, object]:
    """Ask ``subject`` with a fresh inbox as the body's ``stream``; what
    arrives there goes to ``on_message`` until the reply comes."""
    nc = await connect(settings())
    try:
        inbox = nc.new_inbox()
        sub = await nc.subscribe(inbox, cb=on_message)
        try:
            return await request_json(nc, subject, {**body, "stream": inbox}, timeout=600)
        finally:
            await nc.flush()
            await sub.unsubscribe()
    finally:
        await nc.close()
