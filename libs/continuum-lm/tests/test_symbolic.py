"""The pre-training episodes: the academy's transcript shape, one task each."""

from __future__ import annotations

import json
import random

from continuum_lm.symbolic import SHAPES, _fields_task, episode, episodes


def test_an_episode_is_a_rubric_then_turns_of_one_task_under_one_word() -> None:
    rng = random.Random(1)
    for _ in range(50):
        lines = episode(rng).strip("\n").split("\n")
        assert not lines[0].startswith("User:")
        users, answers = lines[1::2], lines[2::2]
        assert 3 <= len(users) == len(answers) <= 10
        assert all(u.startswith("User: ") for u in users)
        assert len({u.split()[1] for u in users}) == 1  # one made-up instruction word
        assert len({a.split(":")[0] for a in answers}) == 1  # one speaker


def test_episodes_are_the_same_for_the_same_seed() -> None:
    assert episodes(random.Random(7), 2000) == episodes(random.Random(7), 2000)
    assert len(episodes(random.Random(7), 2000)) >= 2000


def test_open_slots_are_copied_from_the_sentence_never_recalled() -> None:
    """Numbers and made-up words can only be copied: every answer's values are
    in its prompt, and a record laid out as JSON parses."""
    rng = random.Random(3)
    records = opened = 0
    for _ in range(400):
        make = _fields_task(rng)
        prompt, answer = make(rng)
        if answer.startswith("{"):
            values = json.loads(answer).values()
            assert all(str(v) in prompt for v in values)
            records += 1
        if any(c.isdigit() for c in answer) and "=" not in prompt and "+" not in prompt:
            opened += 1
    assert records > 10 and opened > 10
    assert any("{num}" in s for s in SHAPES) and any("{word}" in s for s in SHAPES)
