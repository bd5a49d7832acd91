"""The pre-training episodes: the academy's transcript shape, one task each."""

from __future__ import annotations

import random

from continuum_lm.symbolic import episode, episodes


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
