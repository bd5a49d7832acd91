"""Training data drawn fresh from a skill: deterministic, train split only, mixed as asked."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from continuum_academy.curriculum import Curriculum
from continuum_academy.lab.data import MixedExamples, SkillExamples
from continuum_academy.skills import Exercise, SkillError, split_of


def rendered(exercise: Exercise) -> str:
    return f"Q: {exercise.prompt}"


def test_fresh_gold_is_a_function_of_the_rng_and_never_held_out() -> None:
    skill = Curriculum.load().get("arithmetic")
    data = SkillExamples([], skill, rendered)
    first = data.batch(random.Random(7), 500)
    assert first == data.batch(random.Random(7), 500)  # a resumed job sees the same batches
    assert first != data.batch(random.Random(8), 500)
    assert len({prompt for prompt, _ in first}) > 400  # fresh problems, not a small cycle
    for prompt, answer in first:
        key = prompt.removeprefix("Q: ")
        assert split_of("arithmetic", key) == "train"
        a, op, b = key[:-1].partition("+") if "+" in key else key[:-1].partition("-")
        result = int(a) + int(b) if op == "+" else int(a) - int(b)
        assert answer.endswith(f":{result}")  # the worked solution, then the result


def test_attempts_are_mixed_in_at_the_asked_share() -> None:
    skill = Curriculum.load().get("strings")
    attempts = [("Q: mine", "an attempt that passed")]
    data = SkillExamples(attempts, skill, rendered, gold_share=0.25)
    batch = data.batch(random.Random(1), 4000)
    gold = sum(pair != attempts[0] for pair in batch)
    assert 800 < gold < 1200
    only_attempts = SkillExamples(attempts, skill, rendered, gold_share=0.0)
    assert set(only_attempts.batch(random.Random(1), 50)) == set(attempts)


def test_nothing_to_train_on_is_refused() -> None:
    skill = Curriculum.load().get("arithmetic")

    class NoGold:
        name, description, has_gold = "judged", "graded by judges only", False

        def generate(self, rng: random.Random) -> Exercise:
            return Exercise("judged", "k", "k", {"kind": "regex", "pattern": "."})

    code = NoGold()
    with pytest.raises(ValueError, match="passed attempts or a skill with gold"):
        SkillExamples([], code, rendered)
    with pytest.raises(ValueError, match="share of gold"):
        SkillExamples([], skill, rendered, gold_share=0.0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        SkillExamples([], skill, rendered, gold_share=1.5)
    assert (
        SkillExamples([("p", "a")], code, rendered).batch(random.Random(0), 3) == [("p", "a")] * 3
    )


def test_a_skill_without_train_problems_is_reported() -> None:
    class OnlyHeldOut:
        name, description, has_gold = "held", "all held out", True

        def generate(self, rng: random.Random) -> Exercise:
            for n in range(10_000):
                if split_of("held", str(n)) == "heldout":
                    return Exercise("held", str(n), str(n), {"kind": "exact"}, "x")
            raise AssertionError

    with pytest.raises(SkillError, match="no train-split gold"):
        SkillExamples([], OnlyHeldOut(), rendered).batch(random.Random(0), 1)


def test_a_jobs_dev_problems_are_never_trained_on(lab: Any, tmp_path: Path) -> None:
    from continuum.events.academy import Hyperparameters, TrainingStarted
    from continuum_academy.jobs import _dev_set, _examples

    skill = Curriculum.load().get("arithmetic")
    dev = _dev_set(skill, 3)
    assert len(dev) == 64 and all(e.split == "train" for e in dev)
    started = TrainingStarted(
        persona_id="p-1", skill="arithmetic", hyperparameters=Hyperparameters(),
        from_attempts=2, gold_share=0.5, seed=3, layer_name="child",
    )  # fmt: skip
    attempts = [[dev[0].prompt, "", dev[0].answer or ""], ["1+1=", "", "2"]]
    data = _examples(lab, skill, started, attempts, "Student", dev)
    batch = data.batch(random.Random(1), 20_000)
    asked = {prompt.rsplit("User: ", 1)[1].split("\n", 1)[0] for prompt, _ in batch}
    assert asked.isdisjoint(e.prompt for e in dev)
    assert "1+1=" in asked and len(asked) > 1000  # the other attempt, and fresh gold

    # A small YAML skill keeps most of its problems to train on.
    small = tmp_path / "small.yaml"
    rows = "".join(f"  - {{prompt: 'q{i}:', answer: a{i}}}\n" for i in range(60))
    small.write_text(f"name: small\ndescription: A few.\nexercises:\n{rows}")
    from continuum_academy.skills.yaml_skill import load_yaml_skill

    skill = load_yaml_skill(small)
    few = _dev_set(skill, 3)
    assert len(few) == skill.count("train") // 5 and all(e.split == "train" for e in few)


def test_a_mix_draws_every_skill_evenly_and_repeatably() -> None:
    curriculum = Curriculum.load()
    sources = [SkillExamples([], curriculum.get(n), rendered) for n in ("arithmetic", "strings")]
    mix = MixedExamples(sources)
    batch = mix.batch(random.Random(3), 2000)
    assert batch == mix.batch(random.Random(3), 2000)  # a resumed member sees the same batches
    sums = sum(answer.split(":")[-1].isdigit() for _, answer in batch)  # arithmetic's results
    assert len(batch) == 2000 and 850 < sums < 1150
    with pytest.raises(ValueError, match="at least one source"):
        MixedExamples([])
