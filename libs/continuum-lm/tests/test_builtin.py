"""The built-in model knows which settings built it."""

from __future__ import annotations

import json
from pathlib import Path

from continuum_lm import builtin


def test_a_model_built_with_other_settings_is_not_current(tmp_path: Path) -> None:
    path = tmp_path / "model"
    builtin.build(path, "tiny", steps=2)
    assert builtin.is_built(path) and builtin.is_current(path, "tiny")
    assert not builtin.is_current(path, "small")  # another preset's settings
    marker = path / builtin.MARKER
    meta = json.loads(marker.read_text())
    meta["config"]["steps"] += 1  # as a model built by an earlier release
    marker.write_text(json.dumps(meta))
    assert builtin.is_built(path) and not builtin.is_current(path, "tiny")
    marker.write_text("not json")
    assert not builtin.is_current(path, "tiny")
