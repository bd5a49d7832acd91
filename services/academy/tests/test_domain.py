"""The academy's pure parts: skills and splits, graders, YAML skills, the
Bradley-Terry leaderboard, A/B statistics, grader reputation and speciation."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from continuum_academy import abtest
from continuum_academy.curriculum import Curriculum
from continuum_academy.exams import accuracy_by_kind
from continuum_academy.graders import grade
from continuum_academy.leaderboard import fit, pairwise, standings
from continuum_academy.reputation import ScoreRow, reputations, results_by_exercise, weighted_scores
from continuum_academy.sandbox import SandboxLimits
from continuum_academy.skills import SkillError, draw, split_of
from continuum_academy.skills.arithmetic import Arithmetic, worked
from continuum_academy.skills.yaml_skill import load_yaml_skill
from continuum_academy.species import Profile, distance, speciate, stagnant_species, tournament

LIMITS = SandboxLimits()
SHIPPED = ("arithmetic", "strings", "extraction", "code")


@pytest.mark.parametrize("name", SHIPPED)
def test_train_and_heldout_never_share_a_problem(name: str) -> None:
    skill = Curriculum.load().get(name)
    train = draw(skill, "train", 300, seed=1)
    heldout = draw(skill, "heldout", 100, seed=1)
    assert {e.key for e in train}.isdisjoint({e.key for e in heldout})
    assert all(split_of(name, e.key) == "heldout" for e in heldout)
    assert draw(skill, "heldout", 100, seed=1) == heldout  # the same for the same seed
    assert draw(skill, "heldout", 100, seed=2) != heldout


@pytest.mark.parametrize("name", SHIPPED)
def test_every_gold_answer_passes_its_own_grader(name: str) -> None:
    skill = Curriculum.load().get(name)
    for exercise in draw(skill, "train", 20 if name == "code" else 200, seed=3):
        verdict = grade(exercise.grader, exercise.answer, exercise.answer or "", LIMITS)
        assert verdict.passed, (exercise, verdict)
        worked = grade(exercise.grader, exercise.answer, exercise.gold or "", LIMITS)
        assert worked.passed, (exercise, worked)  # the solution a layer is trained on
        assert "\n" not in (exercise.gold or "")  # an answer is one line


def test_arithmetic_solutions_show_each_column_and_its_carry() -> None:
    for a in range(100):
        for b in range(100):
            for op in "+-":
                if op == "-" and b > a:
                    continue
                ones, rest = worked(a, b, op).split(",")
                tens, result = rest.split(":")
                want = a + b if op == "+" else a - b
                assert int(result) == want and str(want) == result  # no leading zero
                carry = int(ones) // 10  # a carry (or borrow) is written as a leading 1
                assert int(ones) % 10 == want % 10
                sign = 1 if op == "+" else -1
                assert int(tens) == a // 10 + sign * (b // 10 + carry)
                assert carry == (a % 10 + b % 10 >= 10 if op == "+" else a % 10 < b % 10)
    assert worked(47, 38, "+") == "15,8:85" and worked(52, 17, "-") == "15,3:35"
    exercise = Curriculum.load().get("arithmetic").generate(random.Random(5))
    assert exercise.gold == exercise.solution != exercise.answer
    assert all(":" in solution for _, solution in exercise.examples)  # the prompt shows the form
    with pytest.raises(ValueError, match="two digits"):
        Arithmetic(max_value=100)


def test_exercises_say_their_kind_and_accuracy_splits_by_it() -> None:
    kinds = {
        name: {e.kind for e in draw(Curriculum.load().get(name), "train", 100, seed=4)}
        for name in SHIPPED
    }
    assert kinds["arithmetic"] == {"addition", "subtraction"}
    assert kinds["strings"] == {"reverse", "sort"}
    assert kinds["extraction"] == {""} and len(kinds["code"]) == 4
    exercises = draw(Curriculum.load().get("arithmetic"), "heldout", 40, seed=4)
    passed = [e.kind == "subtraction" or e.key.startswith("1") for e in exercises]
    split = accuracy_by_kind(exercises, passed)
    additions = [p for e, p in zip(exercises, passed, strict=True) if e.kind == "addition"]
    assert split == {"addition": sum(additions) / len(additions), "subtraction": 1.0}
    assert 0 < split["addition"] < 1
    one_kind = draw(Curriculum.load().get("extraction"), "heldout", 5, seed=4)
    assert accuracy_by_kind(one_kind, [True] * 5) == {}  # nothing to split


def test_graders_fail_wrong_answers_with_a_reason() -> None:
    assert grade({"kind": "exact"}, "42", "42\nUser: more", LIMITS).passed
    assert grade({"kind": "exact"}, "42", "43", LIMITS).detail == "expected '42'"
    after = {"kind": "exact", "after": ":"}  # worked answers: the result after the last mark
    assert grade(after, "85", "15,8:85", LIMITS).passed
    assert grade(after, "85", " 85 \nUser: more", LIMITS).passed  # the bare answer too
    assert grade(after, "85", "15,8:84", LIMITS).detail == "expected '85'"
    assert not grade(after, "85", "15,8:85:", LIMITS).passed
    assert not grade({"kind": "exact"}, "85", "15,8:85", LIMITS).passed  # no mark, whole line
    assert grade({"kind": "regex", "pattern": r"^\s*Lima"}, None, " Lima!", LIMITS).passed
    spec = Curriculum.load().get("extraction").generate(random.Random(1)).grader
    assert grade(spec, None, "not json", LIMITS).detail == "not JSON"
    wrong = dict(spec["expected"], age=1)
    verdict = grade(spec, None, json.dumps(wrong), LIMITS)
    assert not verdict.passed and verdict.detail == "wrong or missing: age"
    assert "schema" in grade(spec, None, '{"name": 1}', LIMITS).detail


def test_a_yaml_skill_loads_and_bad_files_are_refused_with_the_reason(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "name: capitals\ndescription: Capitals.\nexercises:\n"
        "  - {prompt: 'capital of France:', answer: Paris, kind: europe}\n"
        "  - {prompt: 'capital of Peru:', grader: {kind: regex, pattern: Lima}}\n"
        "  - {prompt: '17*3=', answer: 51, solution: '7*3=21,1*3+2=5:51',"
        " grader: {kind: exact, after: ':'}}\n"
    )
    skill = load_yaml_skill(good)
    assert skill.name == "capitals" and not skill.has_gold
    assert [e.kind for e in skill.exercises] == ["europe", "", ""]
    worked_one = skill.exercises[2]
    assert worked_one.gold == "7*3=21,1*3+2=5:51" and worked_one.answer == "51"
    for text, message in (
        ("name: [", "not valid YAML"),
        ("name: ok\x0b", "not valid YAML"),  # the reader's error, not only the parser's
        ("[" * 5000, "nested too deeply"),
        ("- a list", "a skill file is a mapping"),
        ("name: Bad Name\nexercises: [{prompt: x, answer: y}]", "name must be"),
        ("name: ok\nexercises: []", "exercises must be a non-empty list"),
        ("name: ok\nexercises: [{prompt: x}]", "an exact grader needs an answer"),
        ("name: ok\nexercises: [{prompt: x, grader: {kind: pickle}}]", "grader.kind must be"),
        ("name: ok\nexercises: [{prompt: x, grader: {kind: regex, pattern: '('}}]", "pattern"),
        (
            "name: ok\nexercises:\n- {prompt: x, answer: 1}\n- {prompt: y, answer: 2}\n"
            "- {prompt: x, answer: 3}",
            r"bad.yaml:5: exercise 3: prompt 'x' is also the prompt of the exercise on line 3",
        ),
        (
            "name: ok\nexercises:\n- {prompt: x, answer: ''}",
            r":3: exercise 1 \('x'\): answer is empty",
        ),
        ("name: ok\nexercises:\n- {prompt: x, answer: yes}", "YAML boolean; quote it"),
        ("name: ok\nexercises:\n- {prompt: x, answer: 1, split: dev}", "split must be train or"),
        (
            "name: ok\nexercises:\n- {prompt: x, answer: '{', grader: {kind: json}}",
            r"exercise 1 \('x'\): the answer does not pass its own grader \(not JSON\)",
        ),
        (
            "name: ok\nexercises:\n- {prompt: x, answer: a, grader: {kind: regex, pattern: b}}",
            "does not pass its own grader",
        ),
        (
            "name: ok\nexercises:\n- {prompt: x, grader: {kind: json, schema: {type: 7}}}",
            "grader.schema is not a JSON schema",
        ),
        ("name: ok\nexercises:\n- {prompt: x, grader: {kind: unit_tests}}", "grader.tests must"),
        (
            "name: ok\nexamples: [{prompt: a}]\nexercises: [{prompt: x, answer: 1}]",
            "worked example 1",
        ),
        ("name: ok\nexercises: [{prompt: x, answer: 1, kind: [a]}]", "kind must be a string"),
        (
            "name: ok\nexercises: [{prompt: x, grader: {kind: regex, pattern: a, after: ':'}}]",
            "grader.after is for exact graders",
        ),
        ("name: ok\nexercises: [{prompt: x, answer: 1, grader: {kind: exact, after: ''}}]", "1-8"),
        ("name: ok\nexercises: [{prompt: x, answer: 1, solution: 'a:2'}]", "does not pass"),
        ("name: ok\nexercises: [{prompt: x, solution: 'a:2'}]", "needs an answer"),
        ("name: ok\nexercises: [{prompt: x, answer: 1, solution: 7}]", "solution must be"),
    ):
        bad = tmp_path / "bad.yaml"
        bad.write_text(text)
        with pytest.raises(SkillError, match=message):
            load_yaml_skill(bad)
    curriculum = Curriculum.load(tmp_path)  # bad.yaml is skipped and reported
    assert "capitals" in curriculum.skills and any("bad.yaml" in p for p in curriculum.problems)


def test_a_yaml_skill_sets_splits_worked_examples_and_a_rubric(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    lines = ["name: shift", "rubric: Answer with letters only.", "examples:"]
    lines.append("  - {prompt: 'ab:', answer: bc}")
    lines.append("exercises:")
    lines += [f"  - {{prompt: 'w{i}:', answer: x{i}, split: heldout}}" for i in range(30)]
    lines += [f"  - {{prompt: 'v{i}:', answer: y{i}}}" for i in range(100)]
    path.write_text("\n".join(lines))
    skill = load_yaml_skill(path)
    marked = {e.key for e in skill.exercises if e.key.startswith("w")}
    assert all(e.split == "heldout" for e in skill.exercises if e.key in marked)
    assert skill.count("heldout") == 30 + sum(
        split_of("shift", f"v{i}:") == "heldout" for i in range(100)
    )
    assert skill.exercises[0].examples == (("ab:", "bc"),)
    assert skill.exercises[0].rubric == "Answer with letters only."
    assert skill.locate(skill.exercises[1]) == f"{path}:7: exercise 'w1:'"
    have = skill.count("heldout")
    with pytest.raises(SkillError, match=f"has {have} heldout exercises; {have + 1} were asked"):
        draw(skill, "heldout", have + 1, seed=0)
    assert len(draw(skill, "heldout", have, seed=0)) == have


def test_the_skills_directory_is_reread_when_its_files_change(tmp_path: Path) -> None:
    import os

    one = "name: one\nexercises:\n  - {prompt: 'a:', answer: b}\n"
    (tmp_path / "one.yaml").write_text(one)
    curriculum = Curriculum.load(tmp_path)
    assert "one" in curriculum.skills and curriculum.refresh() is None  # nothing changed
    (tmp_path / "two.yaml").write_text("name: two\nexercises: [{prompt: 'c:', answer: d}]\n")
    assert curriculum.get("two").name == "two"  # picked up on use, no restart
    broken = tmp_path / "one.yaml"
    broken.write_text(one + "  - {prompt: 'a:', answer: c}\n")  # a duplicate prompt
    os.utime(broken, ns=(1, 1))  # another mtime even on a coarse clock
    report = curriculum.refresh()
    assert report is not None and report.removed == ["one"]
    assert any("one.yaml:4" in p and "'a:'" in p for p in curriculum.problems)
    with pytest.raises(SkillError, match="unknown skill 'one'"):
        curriculum.get("one")
    broken.write_text(one.replace("b}", "e}"))
    report = curriculum.reload()
    assert report.added == ["one"] and not report.problems
    (tmp_path / "three.yaml").write_text("name: two\nexercises: [{prompt: 'x:', answer: y}]\n")
    report = curriculum.reload()
    assert any("'two' is already defined by" in p for p in report.problems)
    (tmp_path / "four.yaml").write_text("name: strings\nexercises: [{prompt: 'x:', answer: y}]\n")
    assert any(
        "'strings' is already defined by a shipped skill" in p for p in curriculum.reload().problems
    )


def test_bradley_terry_recovers_the_order_of_known_strengths() -> None:
    rng = random.Random(0)
    truth = {"a": 4.0, "b": 2.0, "c": 1.0, "d": 0.5}
    results = {}
    for k in range(400):
        scores = {}
        for name, strength in truth.items():
            scores[name] = 1.0 if rng.random() < strength / (strength + 1.0) else 0.0
        results[f"e{k}"] = scores
    table = standings(results, bootstrap=100)
    assert [s.contestant for s in table] == ["a", "b", "c", "d"]
    for s in table:
        assert s.low <= s.rating <= s.high
    strengths = fit(list(truth), pairwise(results))
    assert strengths["a"] > strengths["b"] > strengths["c"] > strengths["d"]
    assert standings({}) == []


def test_the_sequential_test_is_safe_to_peek_at_and_finds_real_wins() -> None:
    rng = random.Random(1)
    false_wins = 0
    for _ in range(300):  # no difference at all: a win is a false positive
        child = [rng.random() < 0.5 for _ in range(300)]
        parent = [rng.random() < 0.5 for _ in range(300)]
        false_wins += abtest.evaluate(child, parent, alpha=0.05).verdict == "child"
    assert false_wins / 300 <= 0.05
    child = [rng.random() < 0.8 for _ in range(200)]
    parent = [rng.random() < 0.4 for _ in range(200)]
    result = abtest.evaluate(child, parent, alpha=0.05)
    assert result.verdict == "child" and "after" in result.detail
    fixed = abtest.evaluate(child, parent, method="fixed", alpha=0.05)
    assert fixed.verdict == "child" and fixed.statistic > 0
    assert fixed.interval is not None and result.interval is None
    low, high = fixed.interval
    gap = fixed.child_accuracy - fixed.parent_accuracy
    assert low == fixed.statistic and low < gap < high
    assert abtest.evaluate(parent, child, alpha=0.05).verdict == "parent"
    # Ten variants share alpha: a marginal win for one of them is not enough.
    marginal_child = [True] * 8 + [False] * 92
    marginal_parent = [False] * 100
    assert abtest.evaluate(marginal_child, marginal_parent, alpha=0.05).verdict == "child"
    assert abtest.evaluate(marginal_child, marginal_parent, alpha=0.05, variants=10).verdict == (
        "undecided"
    )
    with pytest.raises(ValueError, match="same, non-empty"):
        abtest.evaluate([True], [True, False])


def test_grader_reputation_is_learned_from_known_answers_and_weights_scores() -> None:
    rows = []
    for k in range(20):
        truth = k % 2 == 0
        attempt = f"a{k}"
        rows.append(ScoreRow(attempt, f"e{k}", True, "p", "exact", "grader", float(truth), truth))
        rows.append(ScoreRow(attempt, f"e{k}", True, "p", "ai-judge:x", "ai_judge", 1.0, True))
    rep = reputations(rows)
    assert rep["exact"].value == pytest.approx(21 / 22)
    assert rep["ai-judge:x"].value == pytest.approx(11 / 22)  # says yes to everything
    weighted = weighted_scores(rows, rep)
    wrong = weighted["a1"][2]
    assert 0.3 < wrong < 0.4  # the judge's "yes" counts, but for little
    assert results_by_exercise(weighted)["e0"] == {"p": pytest.approx(1.0)}


def test_species_form_by_behaviour_and_keep_their_ids() -> None:
    def member(name: str, a: float, s: float) -> Profile:
        return Profile(name, {"arithmetic": a, "strings": s}, [1.0, 0.0])

    first = [member("m1", 0.9, 0.0), member("m2", 0.85, 0.0), member("m3", 0.0, 0.9)]
    reps, next_id = speciate(first, {}, 0.2, 0)
    assert first[0].species == first[1].species != first[2].species and next_id == 2
    second = [member("m4", 0.0, 0.95), member("m5", 0.5, 0.5)]
    reps, next_id = speciate(second, reps, 0.2, next_id)
    assert second[0].species == first[2].species and second[1].species == 2
    assert distance(first[0], first[0]) == 0.0
    rng = random.Random(0)
    wins = {"m1": 0, "m2": 0, "m3": 0}
    for _ in range(300):
        wins[tournament(first, ["arithmetic", "strings"], rng, size=3)[0].member_id] += 1
    # The best at something wins; the runner-up only when the best was not drawn.
    assert wins["m2"] < min(wins["m1"], wins["m3"])
    history = {0: [0.1, 0.5, 0.5, 0.5, 0.5], 1: [0.1, 0.2, 0.3, 0.4, 0.5], 2: [0.9] * 5}
    assert stagnant_species(history, patience=3, protect={2}) == [0]
