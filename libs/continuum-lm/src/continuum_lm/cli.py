"""`continuum models ...` and `continuum genome train` (CLI plugins of continuum-lm)
and the hook that builds the built-in model on a node's first ``continuum up``."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from continuum.cli.progress import Work
from continuum.settings import Settings

app = typer.Typer(help="The built-in model and other local models.", no_args_is_help=True)
console = Console(highlight=False)


def _model_dir() -> Path:
    from continuum_lm.settings import ModelSettings

    return ModelSettings().builtin_model_dir(Settings().home)


def _build(path: Path, preset: str, steps: int | None) -> dict[str, object]:
    from continuum_lm import builtin

    with Work(console, "pre-training the built-in model", unit="steps") as work:

        def report(step: int, total: int, loss: float) -> None:
            work.update(step, total, note=f"loss {loss:.3f}")

        return builtin.build(path, preset, steps=steps, progress=report)


@app.command("build")
def build(
    preset: str = typer.Option(
        None,
        help="small (~3 min on 2 cores) or tiny (seconds); default CONTINUUM_PERSONA_MODEL_PRESET "
        "(small).",
    ),
    steps: int = typer.Option(0, min=0, help="Training steps (0: the preset's)."),
    force: bool = typer.Option(False, "--force", help="Rebuild even if it exists."),
    path: Path = typer.Option(None, help="Where to save it (default: the node's model dir)."),
) -> None:
    """Create the built-in model from a config and pre-train it on shipped text."""
    from continuum_lm import builtin
    from continuum_lm.settings import ModelSettings

    preset = preset or ModelSettings().model_preset
    if preset not in builtin.PRESETS:
        raise typer.BadParameter(f"unknown preset; presets: {', '.join(builtin.PRESETS)}")
    target = path or _model_dir()
    if builtin.is_built(target) and not force:
        console.print(f"the built-in model is already in {target} (use --force to rebuild)")
        return
    meta = _build(target, preset, steps or None)
    console.print(
        f"saved to {target}: {meta['parameters']:,} parameters, "
        f"final loss {meta['final_loss']}, {meta['train_seconds']} s"
    )


@app.command("show")
def show() -> None:
    """Show the configured model."""
    target = _model_dir()
    marker = target / "continuum-model.json"
    if not (target / "config.json").exists():
        console.print(f"no model in {target}; `continuum models build` creates the built-in one")
        raise typer.Exit(1)
    table = Table(show_header=False, title=str(target))
    config = json.loads((target / "config.json").read_text())
    table.add_row("architecture", ", ".join(config.get("architectures", [])))
    for key in ("hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size"):
        table.add_row(key, str(config.get(key)))
    if marker.exists():
        for key, value in json.loads(marker.read_text()).items():
            if key != "config":
                table.add_row(key, str(value))
    console.print(table)


def ensure_builtin_model(home: Path) -> None:
    """Hook run by `continuum up` before the services start: build the built-in
    model on first start (in the foreground, with a progress bar), unless a
    model directory is configured."""
    from continuum_lm import builtin
    from continuum_lm.settings import ModelSettings

    settings = ModelSettings()
    if settings.model_path:
        return
    target = settings.builtin_model_dir(home)
    if builtin.is_built(target):
        if not builtin.is_current(target, settings.model_preset):
            console.print(
                f"note: the built-in model in {target} was built with older "
                f"{settings.model_preset!r} settings; it is kept, as layers trained on it "
                "belong to it. `continuum models build --force` builds the current one."
            )
        return
    console.print(f"first start: building the built-in model in {target}")
    _build(target, settings.model_preset, None)


def train_layer_command(
    out: Path = typer.Argument(..., help="Directory to write the adapter to."),
    name: str = typer.Option(..., help="Layer id for the manifest draft."),
    description: str = typer.Option(..., help="What the layer is good at."),
    text: list[str] = typer.Option([], "--text", help="A training text (repeat)."),
    data: Path = typer.Option(None, help="A file of training texts, separated by blank lines."),
    domains: str = typer.Option("", help="Comma-separated domains."),
    rank: int = typer.Option(16, min=1, max=256, help="LoRA rank."),
    steps: int = typer.Option(60, min=1, max=100_000, help="Training steps."),
    model: Path = typer.Option(None, help="Base model directory (default: the node's model)."),
) -> None:
    """Train a LoRA layer on the local model (seconds on a CPU), ready to publish."""
    from continuum_lm.training import train_layer

    texts = list(text)
    if data is not None:
        try:
            texts += [t.strip() for t in data.read_text().split("\n\n") if t.strip()]
        except OSError as exc:
            raise typer.BadParameter(f"cannot read {data}: {exc}") from None
    if not texts:
        raise typer.BadParameter("give training texts with --text or --data")
    model_dir = model or _model_dir()
    if not (model_dir / "config.json").exists():
        raise typer.BadParameter(f"no model in {model_dir}; run `continuum models build` first")
    with Work(console, f"training layer {name}", total=steps, unit="steps") as work:

        def report(step: int, total: int, loss: float) -> None:
            work.update(step, total, note=f"loss {loss:.3f}")

        result = train_layer(
            model_dir,
            texts,
            out,
            name=name,
            description=description,
            domains=[d.strip() for d in domains.split(",") if d.strip()],
            rank=rank,
            steps=steps,
            progress=report,
        )
    console.print(
        f"layer written to {out} (final loss {result['final_loss']}, {result['seconds']} s); "
        f"publish it with: continuum genome publish {out}"
    )
