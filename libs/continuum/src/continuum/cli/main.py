"""Entry points: ``continuum`` and ``jtag`` (which accepts slash paths)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

import typer
from pydantic import ValidationError

from continuum.cli.common import err_console, print_error
from continuum.quiet import quiet_model_libraries

HELP = "Continuum: personas, layers and events on a peer-to-peer mesh."


def _module(name: str) -> Any:
    return importlib.import_module(f"continuum.cli.{name}")


def _command(module: str, function: str, name: str | None = None) -> Callable[[typer.Typer], None]:
    def add(app: typer.Typer) -> None:
        app.command(name)(getattr(_module(module), function))

    return add


def _group(module: str, attribute: str, name: str) -> Callable[[typer.Typer], None]:
    def add(app: typer.Typer) -> None:
        group = getattr(_module(module), attribute)
        if name == "genome":
            _add_genome_plugins(group)
        app.add_typer(group, name=name)

    return add


#: Every command and group by the name a user types, and how to add it. A run
#: adds only the one its arguments name (each imports its own dependencies:
#: `continuum chat send` need not load NATS, the event catalog or asyncpg);
#: help, or a name nobody knows, adds them all.
COMMANDS: dict[str, Callable[[typer.Typer], None]] = {
    "up": _command("node_cmds", "up"),
    "down": _command("node_cmds", "down"),
    "status": _command("node_cmds", "status"),
    "bootstrap": _command("node_cmds", "bootstrap"),
    "compose-env": _command("deploy_cmds", "compose_env", "compose-env"),
    "events": _group("events_cmds", "app", "events"),
    "token": _group("access_cmds", "token_app", "token"),
    "publisher": _group("access_cmds", "publisher_app", "publisher"),
    "chat": _group("chat_cmds", "app", "chat"),
    "persona": _group("persona_cmds", "app", "persona"),
    "ai": _group("ai_cmds", "app", "ai"),
    "genome": _group("genome_cmds", "app", "genome"),
    "mesh": _group("mesh_cmds", "app", "mesh"),
    "market": _group("market_cmds", "app", "market"),
    "game": _group("game_cmds", "app", "game"),
    "code": _group("code_cmds", "app", "code"),
    "ui": _command("ui_cmds", "ui"),
}


def _add_plugins(app: typer.Typer, only: str | None = None) -> None:
    """Command groups contributed by installed services (``continuum.cli`` entry
    points), e.g. ``continuum models`` from persona-runtime. Loading one must
    stay cheap: heavy imports belong inside its commands."""
    for entry in entry_points(group="continuum.cli"):
        if only is not None and entry.name != only:
            continue
        try:
            plugin = entry.load()
        except Exception as exc:  # a broken plugin must not take the CLI down
            err_console.print(f"[yellow]warning:[/] cannot load CLI plugin {entry.name}: {exc}")
            continue
        app.add_typer(plugin, name=entry.name)


def _add_genome_plugins(group: typer.Typer) -> None:
    """Commands added to the genome group (e.g. `genome train` from persona-runtime)."""
    for entry in entry_points(group="continuum.cli.genome"):
        try:
            group.command(entry.name)(entry.load())
        except Exception as exc:
            err_console.print(f"[yellow]warning:[/] cannot load genome command {entry.name}: {exc}")


def build_app(argv: list[str] | None = None) -> typer.Typer:
    """The CLI with what ``argv`` needs: the command it names, else everything."""
    app = typer.Typer(
        help=HELP, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False
    )
    first = argv[0] if argv and not argv[0].startswith("-") else None
    if first is not None and first in COMMANDS:
        COMMANDS[first](app)
        if len(app.registered_commands) == 1 and not app.registered_groups:
            # A lone command would become the whole CLI (typer's single-command mode).
            app.command("help", hidden=True)(lambda: None)
        return app
    plugins = {entry.name for entry in entry_points(group="continuum.cli")}
    if first is not None and first in plugins:
        _add_plugins(app, only=first)
        return app
    for add in COMMANDS.values():
        add(app)
    _add_plugins(app)
    return app


quiet_model_libraries()  # before a plugin command imports transformers


def __getattr__(name: str) -> Any:
    if name == "app":  # the whole CLI, for tools and tests that want it
        return build_app()
    raise AttributeError(name)


#: Errors reported as one line, by where they are defined. A command imports only
#: what it needs, and an error of a module it never imported cannot have been
#: raised, so the tuple is built from the modules loaded when one arrives.
_EXPECTED = (
    ("continuum.cli.common", "CliError"),
    ("continuum.events.errors", "EventError"),
    ("continuum.store.base", "EventStoreError"),
    ("continuum.node.state", "NodeNotRunning"),
    ("continuum.node.supervisor", "AlreadyRunning"),
    ("continuum.node.ports", "PortInUseError"),
    ("continuum.node.embedded", "EmbeddedServerError"),
    ("continuum.identity", "IdentityError"),
)


def _expected() -> tuple[type[BaseException], ...]:
    return tuple(
        getattr(sys.modules[module], name) for module, name in _EXPECTED if module in sys.modules
    )


def run(argv: list[str] | None = None) -> None:
    """Run the CLI; usage errors are typer's, domain errors are one clear line (exit 2)."""
    args = argv if argv is not None else sys.argv[1:]
    try:
        build_app(args)(args=args, prog_name="continuum")
    except ValidationError as exc:  # settings from the environment (CONTINUUM_*)
        from continuum.events.envelope import describe_validation_error

        print_error(f"invalid configuration: {describe_validation_error(exc)}")
        raise SystemExit(2) from None
    except Exception as exc:
        if not isinstance(exc, _expected()):
            raise
        print_error(str(exc))
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
