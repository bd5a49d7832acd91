"""``continuum events ...``: publish, tail, replay, dead letters, schema."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
from typing import Any

import typer
from nats.aio.client import Client
from nats.js.api import DeliverPolicy
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from continuum import jsoninput, suggest
from continuum.asyncapi import asyncapi_document
from continuum.cli.common import (
    CliError,
    connect,
    console,
    print_table,
    request_json,
    run,
    settings,
)
from continuum.events import (
    CONTEXTS,
    EventCodec,
    EventError,
    EventFactory,
    catalog,
)
from continuum.events.envelope import parse_envelope
from continuum.identity import NodeIdentity
from continuum.ids import uuid7_str
from continuum.node import probe
from continuum.projections.deadletters import DeadLetterQueue
from continuum.store import JetStreamEventStore, stream_for_context

app = typer.Typer(
    help="Publish, follow and replay events; inspect dead letters.", no_args_is_help=True
)
dlq_app = typer.Typer(help="List and re-drive dead letters.", invoke_without_command=True)
app.add_typer(dlq_app, name="dlq")


@app.command()
def publish(
    event_type: str = typer.Argument(
        ..., metavar="TYPE", help="e.g. continuum.mesh.annotation.added.v1"
    ),
    data: str = typer.Option(..., "--data", help="The payload as a JSON object."),
    subject: str = typer.Option("", "--subject", help="Aggregate id (default: a new UUIDv7)."),
    expect: int | None = typer.Option(
        None, "--expect-version", help="Optimistic concurrency check."
    ),
) -> None:
    """Validate, sign and append one event."""
    try:
        payload = jsoninput.loads(data, what="--data")
    except jsoninput.UnsafeJson as exc:
        raise CliError(str(exc)) from None
    if not isinstance(payload, dict):
        raise CliError("--data must be a JSON object")
    s = settings()
    identity = NodeIdentity.configured(s.home, s.node_key.get_secret_value())
    factory = EventFactory(identity, f"/continuum/{identity.short_id}/cli")
    envelope = factory.new_from_data(event_type, payload, subject or uuid7_str().replace("-", ""))
    codec = EventCodec(s.max_event_bytes, seal_key=identity.seal_key)
    codec.encode(envelope)  # size check before connecting

    async def main() -> None:
        nc = await connect(s)
        try:
            result = await JetStreamEventStore(nc, codec).append([envelope], expect)
        finally:
            await nc.close()
        console.print(
            f"[green]appended[/] {envelope.type} id={envelope.id} subject={envelope.subject} "
            f"→ {result.stream} seq {result.version}"
            + (" (already stored)" if result.duplicate else "")
        )

    run(main())


def _streams_for(pattern: str | None) -> list[str]:
    if pattern:
        parts = pattern.split(".")
        if len(parts) > 1 and parts[0] == "continuum" and parts[1] in CONTEXTS:
            return [stream_for_context(parts[1])]
    return [stream_for_context(c) for c in CONTEXTS]


def _row(stream: str, seq: int, raw: bytes, codec: EventCodec) -> dict[str, Any]:
    try:
        event = codec.decode(raw)
        env, verified, problem = event.envelope, True, ""
    except EventError as exc:
        verified, problem = False, str(exc)
        try:
            env = parse_envelope(raw, codec.max_bytes)
        except EventError:
            return {"stream": stream, "seq": seq, "verified": False, "problem": problem}
    return {
        "stream": stream,
        "seq": seq,
        "verified": verified,
        "problem": problem,
        **env.attributes(),
    }


def _print_row(row: dict[str, Any]) -> None:
    mark = "[green]✓ signed[/]" if row["verified"] else f"[red]✗ {row['problem']}[/]"
    console.print(
        f"[dim]{row.get('time', '?'):<27}[/] {row['stream']}:{row['seq']:<6} "
        f"[bold]{row.get('type', '?')}[/] {row.get('subject', '?')} "
        f"[dim]node {str(row.get('node', '?'))[:12]}…[/] {mark}"
    )
    if row.get("data") is not None:
        console.print(f"    {json.dumps(row['data'], ensure_ascii=False)}", markup=False)


async def _tail(
    nc: Client,
    codec: EventCodec,
    pattern: str | None,
    from_start: bool,
    follow: bool,
    as_json: bool,
    limit: int | None,
) -> int:
    js = nc.jetstream()
    queue: asyncio.Queue[tuple[str, int, bytes]] = asyncio.Queue()
    targets: dict[str, int] = {}
    subs = []
    for stream in _streams_for(pattern):
        info = await js.stream_info(stream)
        targets[stream] = info.state.last_seq if from_start else 0

        async def handler(msg: Any, stream: str = stream) -> None:
            await queue.put((stream, msg.metadata.sequence.stream, msg.data))

        subs.append(
            await js.subscribe(
                f"evt.{stream.removeprefix('EVT_').lower()}.>",
                stream=stream,
                cb=handler,
                ordered_consumer=True,
                deliver_policy=DeliverPolicy.ALL if from_start else DeliverPolicy.NEW,
            )
        )
    pending = {s for s, last in targets.items() if last > 0}
    shown = 0
    try:
        while follow or pending:
            try:
                stream, seq, raw = await asyncio.wait_for(queue.get(), timeout=0.5)
            except TimeoutError:
                continue
            if seq >= targets.get(stream, 0):
                pending.discard(stream)
            row = _row(stream, seq, raw, codec)
            if pattern and not fnmatch.fnmatchcase(str(row.get("type", "")), pattern):
                continue
            if as_json:
                print(json.dumps(row, ensure_ascii=False), flush=True)
            else:
                _print_row(row)
            shown += 1
            if limit is not None and shown >= limit:
                break
    finally:
        for sub in subs:
            await sub.unsubscribe()
    return shown


@app.command()
def tail(
    type_pattern: str | None = typer.Option(
        None, "--type", help="Glob on the event type, e.g. 'continuum.mesh.*'."
    ),
    from_start: bool = typer.Option(False, "--from-start", help="Show the whole history first."),
    follow: bool = typer.Option(True, "--follow/--no-follow", help="Keep following new events."),
    limit: int | None = typer.Option(None, "--limit", min=1, help="Stop after N events."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line."),
) -> None:
    """Follow events as they are appended, with their signature checked."""
    s = settings()

    async def main() -> None:
        nc = await connect(s)
        try:
            shown = await _tail(
                nc, EventCodec(s.max_event_bytes), type_pattern, from_start, follow, as_json, limit
            )
        finally:
            await nc.close()
        if not follow and not as_json:
            console.print(f"[dim]{shown} event(s)[/]")

    with contextlib.suppress(KeyboardInterrupt):
        run(main())


@app.command()
def replay(projection: str = typer.Argument(..., help="Projection name, e.g. event-log.")) -> None:
    """Drop a projection's read model and rebuild it from the whole log."""
    s = settings()

    async def main() -> dict[str, Any]:
        nc = await connect(s)
        try:
            known = await probe.projections(nc)
            if projection not in known:
                raise CliError(suggest.unknown("projection", projection, known))
            inbox = nc.new_inbox()
            with Progress(
                TextColumn(f"replaying {projection}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("replay", total=None)

                async def on_progress(msg: Any) -> None:
                    update = json.loads(msg.data)
                    bar.update(task, completed=update["done"], total=update["total"])

                sub = await nc.subscribe(inbox, cb=on_progress)
                try:
                    return await request_json(
                        nc,
                        f"cmd.projections.{projection}.rebuild",
                        {"progress": inbox},
                        timeout=3600,
                    )
                finally:
                    await sub.unsubscribe()
        finally:
            await nc.close()

    result = run(main())
    console.print(
        f"[green]rebuilt[/] {result['projection']} from {result['events']} events "
        f"in {result['seconds']:.2f}s"
    )


@dlq_app.callback()
def dlq(
    ctx: typer.Context, consumer: str | None = typer.Option(None, help="Only this consumer.")
) -> None:
    """List dead letters (default) or re-drive them."""
    if ctx.invoked_subcommand is not None:
        return
    s = settings()

    async def main() -> list[Any]:
        nc = await connect(s)
        try:
            return await DeadLetterQueue(nc).list(consumer)
        finally:
            await nc.close()

    letters = run(main())
    if not letters:
        console.print("no dead letters")
        return
    table = Table(title="Dead letters")
    for column in ("#", "consumer", "event", "attempts", "time", "reason"):
        table.add_column(column)
    for letter in letters:
        table.add_row(
            str(letter.dlq_seq),
            letter.consumer,
            f"{letter.stream}:{letter.seq}",
            str(letter.attempts),
            letter.time,
            letter.reason,
        )
    console.print(table)


@dlq_app.command()
def redrive(
    numbers: list[int] = typer.Argument(None, help="Dead-letter numbers (the # column)."),
    all_: bool = typer.Option(False, "--all", help="Re-drive every dead letter."),
) -> None:
    """Process dead-lettered events again by the consumer that rejected them."""
    s = settings()
    if not numbers and not all_:
        raise CliError("name dead letters by number, or pass --all")

    async def main() -> list[tuple[int, str]]:
        nc = await connect(s)
        try:
            dlq = DeadLetterQueue(nc)
            letters = await dlq.list() if all_ else [await _get(dlq, n) for n in numbers]
            outcome = []
            for letter in letters:
                try:
                    await request_json(
                        nc,
                        f"cmd.dlq.{letter.consumer}.redrive",
                        {"dlq_seq": letter.dlq_seq},
                        timeout=30,
                    )
                    outcome.append((letter.dlq_seq, "redriven"))
                except CliError as exc:
                    outcome.append((letter.dlq_seq, f"failed: {exc}"))
            return outcome
        finally:
            await nc.close()

    results = run(main())
    for number, result in results:
        console.print(f"#{number}: {result}")
    if any(r.startswith("failed") for _, r in results):
        raise typer.Exit(1)


async def _get(dlq: DeadLetterQueue, number: int) -> Any:
    try:
        return await dlq.get(number)
    except KeyError as exc:
        raise CliError(str(exc).strip("'\"")) from None


@app.command()
def schema() -> None:
    """Print the node's AsyncAPI 3.0 document: commands, signals and events."""
    print(json.dumps(asyncapi_document(), indent=2))


@app.command()
def types() -> None:
    """List the event types of the catalog, and which outside tools may publish."""
    print_table(
        "Event catalog",
        ("type", "outside", "description", "subject"),
        [
            (
                spec.type,
                "yes" if spec.external else "no",
                spec.description,
                f"evt.{spec.context}.{spec.aggregate}.<id>",
            )
            for spec in catalog
        ],
        whole=("type",),
        optional=("subject",),
    )


@app.command()
def stats() -> None:
    """Event counts per type, from the gateway's event-log read model."""
    s = settings()

    async def main() -> dict[str, Any]:
        nc = await connect(s)
        try:
            return await request_json(nc, "cmd.gateway.events.stats", {})
        finally:
            await nc.close()

    table = Table(title="Events by type")
    table.add_column("type")
    table.add_column("events", justify="right")
    table.add_column("last")
    for row in run(main())["types"]:
        table.add_row(row["type"], str(row["events"]), str(row["last_time"]))
    console.print(table)
