"""`continuum persona ...`: create, list, show and update personas."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table
from rich.text import Text

from continuum.cli import gateway_client
from continuum.cli.common import CliError, console, err_console, print_table, shorten

app = typer.Typer(help="Personas: profiles, backends, genomes.", no_args_is_help=True)

_BACKENDS = ("auto", "builtin", "transformers", "ollama", "openai")


def _backend(spec: str, url: str, path: str, cost: float = 0.0) -> dict[str, Any]:
    """``kind[:model]`` -> a backend reference."""
    kind, _, model = spec.partition(":")
    if kind not in _BACKENDS:
        raise CliError(f"unknown backend {kind!r}; backends are {', '.join(_BACKENDS)}")
    backend: dict[str, Any] = {"kind": kind, "model": model, "cost_per_1k_tokens": cost}
    if url:
        backend["url"] = url
    if path:
        backend["path"] = path
    return backend


def _domains(value: str) -> list[str]:
    return [d.strip() for d in value.split(",") if d.strip()]


def _genome(persona: dict[str, Any]) -> str:
    layers = [f"{g['layer_id']}@{g['version']}:{g['weight']}" for g in persona["genome"]]
    if not layers:
        return "-"
    combination = persona.get("combination", "cat")
    return ", ".join(layers) + (f" ({combination})" if len(layers) > 1 else "")


def _success(persona: dict[str, Any]) -> str:
    turns = persona.get("recent_turns")
    if turns == 0:
        return "no turns yet"
    rate = f"{persona['success_rate']:.0%}"
    return f"{rate} of the last {turns} turns" if turns else f"{rate} of recent turns"


def _show(persona: dict[str, Any]) -> None:
    table = Table(show_header=False, title=persona["name"])
    table.add_column(style="bold")
    table.add_column()
    backend = persona["backend"]
    rows = [
        ("id", persona["id"]),
        ("role", persona["role"]),
        ("domains", ", ".join(persona["domains"])),
        ("style", persona["style"]),
        ("priority", str(persona["priority"])),
        ("public key", persona["public_key"]),
        ("base model", persona["base_model"]),
        ("backend", f"{backend['kind']} ({persona['effective_backend']}) {backend['model']}"),
        ("genome", _genome(persona)),
        ("rooms", ", ".join(persona["rooms"]) or "-"),
        ("memory", f"{persona['memory_count']} items"),
        ("success", _success(persona)),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


@app.command("ls")
def ls() -> None:
    """List personas."""
    personas = gateway_client.request("GET", "/v1/personas")["personas"]
    print_table(
        "personas",
        ("id", "name", "priority", "backend", "rooms", "domains"),
        [
            (
                p["id"],
                p["name"],
                str(p["priority"]),
                p["effective_backend"],
                ", ".join(p["rooms"]),
                shorten(", ".join(p["domains"]), 60),
            )
            for p in personas
        ],
        optional=("rooms", "priority"),
    )


@app.command("show")
def show(persona: str = typer.Argument(..., help="Persona id or name.")) -> None:
    """Show one persona."""
    _show(gateway_client.request("GET", f"/v1/personas/{persona}"))


@app.command("retire")
def retire(persona: str = typer.Argument(..., help="Persona id or name.")) -> None:
    """Retire a persona: it leaves its rooms and stops answering (admin)."""
    done = gateway_client.request("DELETE", f"/v1/personas/{persona}")
    rooms = ", ".join(done["left"]) or "no rooms"
    console.print(f"retired {done['persona']} (left {rooms})")


@app.command("profiles")
def profiles() -> None:
    """The persona profiles you can install, and which this node has."""
    rows = gateway_client.request("GET", "/v1/persona-profiles")["profiles"]
    print_table(
        "persona profiles",
        ("id", "name", "status", "role"),
        [(p["id"], p["name"], p["status"], p["role"]) for p in rows],
    )


@app.command("install")
def install(
    profiles: list[str] = typer.Argument(
        None, help="Profile ids or names, e.g. security-ai (see `continuum persona profiles`)."
    ),
    all_: bool = typer.Option(False, "--all", help="Install every profile in the catalog."),
    room: list[str] = typer.Option(["lobby"], "--room", "-r", help="Rooms to join (repeat)."),
) -> None:
    """Install persona profiles: a software team's roles, each answering its own questions."""
    if all_ == bool(profiles):
        raise CliError("name the profiles to install (e.g. security-ai), or give --all")
    body: dict[str, Any] = {"rooms": room}
    if all_:
        body["all"] = True
    else:
        body["profiles"] = profiles
    done = gateway_client.request("POST", "/v1/persona-profiles/install", json=body)
    for pid in done["installed"]:
        console.print(f"installed {pid} (in {', '.join(room)})")
    for pid in done["present"]:
        console.print(f"{pid} was already installed: left as it is")
    for pid in done["retired"]:
        err_console.print(
            Text("skipped: ", style="yellow") + Text(f"{pid} was retired on this node")
        )


@app.command("create")
def create(
    name: str,
    role: str = typer.Option(..., help="One line: who the persona is."),
    domains: str = typer.Option(..., help="Comma-separated: what it is good at."),
    style: str = typer.Option("", help="How it speaks."),
    priority: int = typer.Option(128, min=0, max=255, help="0-255; higher preempts lower."),
    backend: str = typer.Option("auto", help="auto, builtin, ollama[:model], openai[:model]..."),
    url: str = typer.Option("", help="Backend server URL (ollama, openai)."),
    path: str = typer.Option("", help="Model directory (transformers backend)."),
    cost: float = typer.Option(0.0, min=0, help="Cost of 1,000 generated tokens (paid APIs)."),
    room: list[str] = typer.Option(["lobby"], "--room", "-r", help="Rooms to join (repeat)."),
) -> None:
    """Create a persona (it gets its own Ed25519 identity) and add it to rooms."""
    body = {
        "name": name,
        "role": role,
        "domains": _domains(domains),
        "style": style,
        "priority": priority,
        "backend": _backend(backend, url, path, cost),
        "rooms": room,
    }
    _show(gateway_client.request("POST", "/v1/personas", json=body))


@app.command("update")
def update(
    persona: str,
    role: str = typer.Option(None, help="New role."),
    domains: str = typer.Option(None, help="New comma-separated domains."),
    style: str = typer.Option(None, help="New style."),
    priority: int = typer.Option(None, min=0, max=255, help="New priority."),
    backend: str = typer.Option(None, help="New backend kind[:model]."),
    url: str = typer.Option("", help="Backend server URL."),
    path: str = typer.Option("", help="Model directory (transformers backend)."),
    cost: float = typer.Option(0.0, min=0, help="Cost of 1,000 generated tokens."),
) -> None:
    """Change a persona's profile or backend; it applies from its next turn."""
    body: dict[str, Any] = {}
    if role is not None:
        body["role"] = role
    if domains is not None:
        body["domains"] = _domains(domains)
    if style is not None:
        body["style"] = style
    if priority is not None:
        body["priority"] = priority
    if backend is not None:
        body["backend"] = _backend(backend, url, path, cost)
    if not body:
        raise CliError(
            "nothing to update: give --role, --domains, --style, --priority or --backend"
        )
    updated = gateway_client.request("PATCH", f"/v1/personas/{persona}", json=body)
    _show(updated)
    for warning in updated.get("warnings", []):
        err_console.print(Text("warning: ", style="yellow") + Text(warning))


genome_app = typer.Typer(
    help="A persona's genome: its ordered, weighted layers.", no_args_is_help=True
)
app.add_typer(genome_app, name="genome")


@genome_app.command("set")
def genome_set(
    persona: str = typer.Argument(..., help="Persona id or name."),
    layers: list[str] = typer.Argument(
        None, help="LAYER[@VERSION][:WEIGHT] ... (none: no layers)."
    ),
    combination: str = typer.Option(
        "cat", help="cat (exact sum), linear, svd, ties, ties_svd, dare_linear, dare_ties."
    ),
) -> None:
    """Replace a persona's genome; its next turn uses it (no restart)."""
    from continuum.genome import LayerError, parse_layer_spec

    for spec in layers or []:
        try:
            parse_layer_spec(spec)
        except LayerError as exc:
            raise CliError(str(exc)) from None
    body = {"layers": layers or [], "combination": combination}
    _show(gateway_client.request("PUT", f"/v1/personas/{persona}/genome", json=body))
