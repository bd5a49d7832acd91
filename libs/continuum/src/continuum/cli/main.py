"""Entry points: ``continuum`` and ``jtag`` (which accepts slash paths)."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points

import typer
from pydantic import ValidationError

from continuum.cli import (
    access_cmds,
    ai_cmds,
    chat_cmds,
    deploy_cmds,
    events_cmds,
    genome_cmds,
    market_cmds,
    mesh_cmds,
    node_cmds,
    persona_cmds,
    ui_cmds,
)
from continuum.cli.common import CliError, err_console, print_error
from continuum.events import EventError
from continuum.events.envelope import describe_validation_error
from continuum.identity import IdentityError
from continuum.node.embedded import EmbeddedServerError
from continuum.node.ports import PortInUseError
from continuum.node.state import NodeNotRunning
from continuum.node.supervisor import AlreadyRunning
from continuum.quiet import quiet_model_libraries
from continuum.store import EventStoreError

app = typer.Typer(
    help="Continuum: personas, layers and events on a peer-to-peer mesh.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command()(node_cmds.up)
app.command()(node_cmds.down)
app.command()(node_cmds.status)
app.command()(node_cmds.bootstrap)
app.command("compose-env")(deploy_cmds.compose_env)
app.add_typer(events_cmds.app, name="events")
app.add_typer(access_cmds.token_app, name="token")
app.add_typer(access_cmds.publisher_app, name="publisher")
app.add_typer(chat_cmds.app, name="chat")
app.add_typer(persona_cmds.app, name="persona")
app.add_typer(ai_cmds.app, name="ai")
app.add_typer(genome_cmds.app, name="genome")
app.add_typer(mesh_cmds.app, name="mesh")
app.add_typer(market_cmds.app, name="market")
app.command()(ui_cmds.ui)


def _add_plugins() -> None:
    """Command groups contributed by installed services (``continuum.cli`` entry
    points), e.g. ``continuum models`` from persona-runtime. Loading one must
    stay cheap: heavy imports belong inside its commands."""
    for entry in entry_points(group="continuum.cli"):
        try:
            plugin = entry.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            err_console.print(f"[yellow]warning:[/] cannot load CLI plugin {entry.name}: {exc}")
            continue
        app.add_typer(plugin, name=entry.name)
    # Commands added to the genome group (e.g. `genome train` from persona-runtime).
    for entry in entry_points(group="continuum.cli.genome"):
        try:
            genome_cmds.app.command(entry.name)(entry.load())
        except Exception as exc:
            err_console.print(f"[yellow]warning:[/] cannot load genome command {entry.name}: {exc}")


quiet_model_libraries()  # before a plugin command imports transformers
_add_plugins()

_EXPECTED = (
    CliError,
    EventError,
    EventStoreError,
    NodeNotRunning,
    AlreadyRunning,
    PortInUseError,
    EmbeddedServerError,
    IdentityError,
)


def run(argv: list[str] | None = None) -> None:
    """Run the CLI; usage errors are typer's, domain errors are one clear line (exit 2)."""
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="continuum")
    except _EXPECTED as exc:
        print_error(str(exc))
        raise SystemExit(2) from None
    except ValidationError as exc:  # settings from the environment (CONTINUUM_*)
        print_error(f"invalid configuration: {describe_validation_error(exc)}")
        raise SystemExit(2) from None


def jtag_argv(argv: list[str]) -> list[str]:
    """``jtag events/tail --type=x`` -> ``events tail --type=x``."""
    if argv and "/" in argv[0] and not argv[0].startswith("-"):
        return [part for part in argv[0].split("/") if part] + argv[1:]
    return argv


def run_jtag() -> None:
    run(jtag_argv(sys.argv[1:]))


if __name__ == "__main__":
    run()
