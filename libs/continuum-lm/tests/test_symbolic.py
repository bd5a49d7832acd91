"""The pre-training episodes: the academy's transcript shape, one task each."""

from __future__ import annotations

import itertools
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


def _answers_copied_from_prompt(text: str, words: int = 1) -> list[str]:
    """Answers that appear in their prompt, where the prompt (after the made-up
    instruction word) has at least ``words`` words of letters."""
    lines = text.split("\n")
    out = []
    for user, answer in itertools.pairwise(lines):
        if not user.startswith("User: ") or ": " not in answer or answer.startswith("User"):
            continue
        prompt, value = user.split(" ", 2)[-1], answer.split(": ", 1)[1]
        letters = sum(w.strip(".,():;").isalpha() for w in prompt.split(" "))
        if value in prompt and letters >= words:
            out.append(value)
    return out


def test_open_values_copy_numbers_out_of_sentences_and_the_default_does_not() -> None:
    plain = episodes(random.Random(3), 200_000)
    opened = episodes(random.Random(3), 200_000, open_values=True)

    def numbers_out_of_sentences(text: str) -> int:
        return sum(len(a) >= 2 and a.isdigit() for a in _answers_copied_from_prompt(text, words=3))

    assert numbers_out_of_sentences(opened) > 50
    assert numbers_out_of_sentences(plain) == 0
