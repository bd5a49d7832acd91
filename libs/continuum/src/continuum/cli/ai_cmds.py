"""`continuum ai generate` (``jtag ai/generate``): one persona, one prompt, streamed."""

from __future__ import annotations

import json

import typer
from nats.aio.msg import Msg

from continuum.cli.common import (
    CliError,
    connect,
    console,
    err_console,
    request_json,
    run,
    settings,
)

app = typer.Typer(help="Direct calls to a persona's model.", no_args_is_help=True)

MESHES = ("local",)


@app.command("generate")
def generate(
    prompt: str = typer.Option(..., "--prompt", help="What to ask."),
    persona: str = typer.Option("Helper AI", "--persona", help="Persona id or name."),
    mesh: str = typer.Option(
        "local", "--mesh", help="Where to run: local (lan and global come with the mesh)."
    ),
    max_tokens: int = typer.Option(0, "--max-tokens", min=0, help="Cap on generated tokens."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON at the end."),
) -> None:
    """Stream a persona's answer to a prompt to the terminal."""
    if mesh not in MESHES:
        raise CliError(f"--mesh {mesh} is not available yet; this node runs --mesh local")

    async def main() -> dict[str, object]:
        nc = await connect(settings())
        try:
            inbox = nc.new_inbox()

            async def piece(msg: Msg) -> None:
                if not as_json:
                    console.print(msg.data.decode(errors="replace"), end="", markup=False)

            sub = await nc.subscribe(inbox, cb=piece)
            body: dict[str, object] = {"persona": persona, "prompt": prompt, "stream": inbox}
            if max_tokens:
                body["max_tokens"] = max_tokens
            try:
                return await request_json(nc, "cmd.persona-runtime.generate", body, timeout=600)
            finally:
                await nc.flush()
                await sub.unsubscribe()
        finally:
            await nc.close()

    result = run(main())
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
