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
