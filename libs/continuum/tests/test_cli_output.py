"""The CLI's one output layer: plain-text errors, one status style, did-you-mean."""

from __future__ import annotations

import pytest

from continuum import suggest
from continuum.cli.common import failed, print_error


def test_an_error_is_printed_as_the_server_wrote_it(capsys: pytest.CaptureFixture[str]) -> None:
    print_error("String should match pattern '^[a-z0-9][a-z0-9-]{0,63}$' [bold]x[/]")
    err = capsys.readouterr().err
    assert "error: String should match pattern '^[a-z0-9][a-z0-9-]{0,63}$' [bold]x[/]" in err


def test_gateway_and_service_refusals_read_alike() -> None:
    assert str(failed("unknown room 'x'", 404)) == "unknown room 'x' (404)"


def test_a_typo_gets_the_names_that_would_have_worked() -> None:
    personas = ["helper-ai", "teacher-ai", "codereview-ai", "architect-ai", "debugger-ai"]
    assert suggest.unknown("persona", "tacher-ai", personas) == (
        "unknown persona 'tacher-ai'; did you mean 'teacher-ai'?"
    )
    assert suggest.unknown("room", "LOBBY", ["lobby", "design"]).endswith("did you mean 'lobby'?")
    assert suggest.unknown("projection", "zzz", ["event-log", "chat"]) == (
        "unknown projection 'zzz'; known: chat, event-log"
    )
    assert suggest.unknown("skill", "x", []) == "unknown skill 'x' (there are none yet)"
    many = [f"name-{i:02d}" for i in range(20)]
    assert suggest.unknown("layer", "qqq", many).endswith("name-07, ...")


def test_tables_fit_80_columns_without_cutting_an_id(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from continuum.cli import common

    monkeypatch.setattr(common.console, "width", 80)
    monkeypatch.setattr(common.err_console, "width", 80)
    uuid_ = "01a24162-bc3d-7e8f-9a0b-1c2d3e4f5a6b"
    common.print_table(
        "API tokens",
        ("id", "name", "scopes", "created", "last used", "state"),
        [(uuid_, "ci-pipeline", "publish", "2026-12-04 18:00", "2026-12-04 18:01", "active")],
        optional=("last used", "created"),
    )
    out, err = capsys.readouterr()
    assert uuid_ in out and "ci-pipeline" in out and "…" not in out
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "left out at 80 columns: created, last used" in " ".join(err.split())


def test_long_work_reports_outside_a_terminal_with_an_estimate() -> None:
    import io

    from rich.console import Console

    from continuum.cli.progress import Work, eta

    log = io.StringIO()
    console = Console(file=log, force_terminal=False, width=200)
    with Work(console, "training", total=300, unit="steps", every_s=0) as work:
        work.update(0)  # the first report: the rate is measured from here, not from start
        work._started -= 12  # as if 12 s had passed since
        work._first = (work._first[0] - 12, 0) if work._first else None
        work.update(120, note="loss 2.512")
    lines = log.getvalue().splitlines()
    # Once the rate is known, the whole is estimated once: 12 s so far + 18 s left.
    assert lines[1] == "training: expected to take about 30 s in all"
    assert lines[2].startswith("training: 120/300 steps (40%), loss 2.512, 12 s so far")
    assert lines[2].endswith("about 18 s left")
    assert len(lines) == 4  # and the last state once more when the work ends
    assert eta(0, 100, 5.0) is None and eta(50, None, 5.0) is None


def test_free_text_is_cut_between_words() -> None:
    from continuum.cli.common import shorten

    domains = "greetings and small talk, everyday questions, getting started"
    assert shorten(domains, 40) == "greetings and small talk, everyday …"
    assert shorten("short", 40) == "short" and shorten("", 10) == ""


def test_event_types_say_which_outside_tools_may_publish() -> None:
    from typer.testing import CliRunner

    from continuum.cli.main import app

    shown = CliRunner().invoke(app, ["events", "types"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    row = next(ln for ln in shown.output.splitlines() if "mesh.annotation.added" in ln)
    assert "yes" in row
    row = next(ln for ln in shown.output.splitlines() if "mesh.node.started" in ln)
    assert "no" in row.split("│")[2]


def test_a_persona_without_turns_says_so() -> None:
    from continuum.cli.persona_cmds import _success

    assert _success({"success_rate": 0.5, "recent_turns": 0}) == "no turns yet"
    assert _success({"success_rate": 0.75, "recent_turns": 4}) == "75% of the last 4 turns"


def test_a_node_is_ready_when_the_scheduler_has_heard_every_persona() -> None:
    from continuum.node.probe import personas_row

    runtime = {"status": "ok", "personas": 5}
    assert personas_row({"persona-runtime": runtime, "scheduler": {"personas_present": 3}}) == (
        False,
        "3 of 5 present to the scheduler",
    )
    assert personas_row({"persona-runtime": runtime, "scheduler": {"personas_present": 5}})[0]  # type: ignore[index]
    assert personas_row({"scheduler": {"personas_present": 0}}) is None
