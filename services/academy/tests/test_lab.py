"""The lab on a real (tiny) model: exact stacking, peft merges, training that
resumes to exactly where an uninterrupted run gets, and an evolution run
that resumes from its last generation to the same population."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from continuum_academy.curriculum import Curriculum
from continuum_academy.evolution import CROSSOVERS, Evolution, EvolutionConfig
from continuum_academy.lab.merge import merge
from continuum_academy.lab.training import TrainingPlan, train
from continuum_academy.lab.weights import LoraWeights, concat, load, perturb
from continuum_academy.render import render
from continuum_academy.skills import draw

PLAN = TrainingPlan(rank=4, alpha=8, learning_rate=3e-3, steps=12, batch=4, checkpoint_every=5)


def examples(lab: Any, skill: str = "arithmetic", n: int = 32) -> list[tuple[str, str]]:
    exercises = draw(Curriculum.load().get(skill), "train", n, seed=0)
    return [(render(lab.tokenizer, e), e.gold or "") for e in exercises]


def logits(lab: Any, weights: LoraWeights | None, text: str = "User: 12+30=\nStudent:") -> Any:
    ids = torch.tensor([lab.encode(text)])
    with lab.using(weights) as model, torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def layers(lab: Any) -> tuple[LoraWeights, LoraWeights]:
    a = train(lab, examples(lab, "arithmetic"), PLAN).weights
    b = train(lab, examples(lab, "strings"), TrainingPlan(**{**PLAN.__dict__, "seed": 1})).weights
    return a, b


def test_a_stack_is_the_exact_weighted_sum_and_peft_cat_agrees(lab: Any, layers: Any) -> None:
    a, b = layers
    base = logits(lab, None)
    stacked = concat([(a, 1.0), (b, 0.5)])
    assert stacked.rank == a.rank + b.rank
    # Exact sum: the update of the stack is the sum of the updates.
    delta = logits(lab, stacked) - base
    assert not torch.allclose(logits(lab, a), base)
    merged = merge(lab, [a, b], [1.0, 0.5], "cat")
    assert torch.allclose(logits(lab, merged), logits(lab, stacked), atol=1e-5)
    assert torch.allclose(logits(lab, concat([(a, 0.0), (b, 0.0)])), base, atol=1e-6)
    assert delta.abs().max() > 0
    for combination in ("ties", "dare_ties", "linear", "svd"):
        child = merge(lab, [a, b], [1.0, 1.0], combination, density=0.7)
        assert child.tensors and logits(lab, child).shape == base.shape


def test_a_dare_merge_is_fixed_by_its_seed(lab: Any, layers: Any) -> None:
    """DARE drops at random: one seed, one child, whatever ran before."""
    a, b = layers
    first = merge(lab, [a, b], [1.0, 1.0], "dare_ties", density=0.5, seed=7)
    torch.rand(1000)  # the global generator moves on; the merge must not follow it
    again = merge(lab, [a, b], [1.0, 1.0], "dare_ties", density=0.5, seed=7)
    other = merge(lab, [a, b], [1.0, 1.0], "dare_ties", density=0.5, seed=8)
    assert first.fingerprint() == again.fingerprint() != other.fingerprint()


def test_weights_round_trip_through_a_peft_directory(lab: Any, layers: Any, tmp_path: Path) -> None:
    a, _ = layers
    loaded = load(a.save(tmp_path / "layer"))
    assert torch.allclose(logits(lab, loaded), logits(lab, a))
    assert (tmp_path / "layer" / "adapter_model.safetensors").exists()
    noisy = perturb(a, 0.5, seed=3)
    assert not torch.allclose(logits(lab, noisy), logits(lab, a))


def test_a_killed_training_resumes_to_exactly_the_uninterrupted_result(
    lab: Any, tmp_path: Path
) -> None:
    data = examples(lab)
    straight = train(lab, data, PLAN).weights
    calls = {"n": 0}

    def crash_after_seven() -> bool:
        calls["n"] += 1
        return calls["n"] > 7

    first = train(lab, data, PLAN, workdir=tmp_path, should_stop=crash_after_seven)
    assert first.steps_done == 7
    resumed = train(lab, data, PLAN, workdir=tmp_path)
    assert resumed.resumed_from_step == 5  # the last checkpoint before the "crash"
    for key, tensor in straight.tensors.items():
        assert torch.allclose(resumed.weights.tensors[key], tensor, atol=1e-6), key


def test_dev_checks_stop_a_run_keep_its_best_layer_and_survive_a_resume(
    lab: Any, tmp_path: Path
) -> None:
    data = examples(lab)
    plan = replace(PLAN, steps=40, eval_every=5, patience=2, target=1.0, checkpoint_every=5)
    scores = iter([0.1, 0.4, 0.3, 0.2, 0.9])
    seen: list[LoraWeights] = []

    def evaluate(model: Any) -> float:
        seen.append(LoraWeights.from_peft(model))
        return next(scores)

    result = train(lab, data, plan, evaluate=evaluate)
    # Checks at 5, 10, 15, 20: the best (0.4 at step 10) then two without a gain.
    assert result.checks == ((5, 0.1), (10, 0.4), (15, 0.3), (20, 0.2))
    assert result.steps_done == 20 and "best dev accuracy 40% at step 10" in result.stopped
    assert result.weights.fingerprint() == seen[1].fingerprint()  # the best, not the last

    # Killed after step 12: the resumed run knows the checks made before its checkpoint.
    scores = iter([0.1, 0.4, 0.3, 0.2, 0.9])
    calls = {"n": 0}

    def crash_after_twelve() -> bool:
        calls["n"] += 1
        return calls["n"] > 12

    train(lab, data, plan, workdir=tmp_path, evaluate=evaluate, should_stop=crash_after_twelve)
    scores = iter([0.3, 0.2, 0.9])
    resumed = train(lab, data, plan, workdir=tmp_path, evaluate=evaluate)
    assert resumed.resumed_from_step == 10
    assert resumed.checks == ((5, 0.1), (10, 0.4), (15, 0.3), (20, 0.2))
    assert resumed.weights.fingerprint() == load(tmp_path / "best").fingerprint()


def test_an_evolution_run_resumes_from_its_last_generation(lab: Any, tmp_path: Path) -> None:
    skills = {n: Curriculum.load().get(n) for n in ("arithmetic", "strings")}
    config = EvolutionConfig(
        skills=("arithmetic", "strings"),
        population=3,
        generations=2,
        islands=1,
        dev_exercises=4,
        train_steps=3,
        batch=4,
        seed=5,
    )
    reports: list[Any] = []

    def record(evolution: Evolution) -> Any:
        def on_generation(report: Any) -> None:
            evolution.save(report.generation, report.members)
            reports.append([(m.member_id, m.origin, m.scores) for m in report.members])

        return on_generation

    whole = Evolution(lab, skills, config, tmp_path / "whole")
    whole.on_generation = record(whole)
    whole.run()
    assert len(reports) == 2 and all(len(r) == 3 for r in reports)
    # A fresh process resumes after generation 0 from the files alone.
    resumed = Evolution(lab, skills, config, tmp_path / "whole")
    resumed.on_generation = record(resumed)
    resumed.run(start_after=0)
    assert reports[2] == reports[1]


def test_a_training_mutation_works_on_the_members_failures_at_a_step_scaled_by_error(
    lab: Any, tmp_path: Path
) -> None:
    from continuum_academy.evolution import Genome, mutation_effects

    skills = {n: Curriculum.load().get(n) for n in ("arithmetic", "strings")}
    config = EvolutionConfig(
        skills=("arithmetic", "strings"), population=2, generations=1, islands=1,
        dev_exercises=4, train_steps=2, batch=4, seed=5, mixed_training=0.0,
    )  # fmt: skip
    evolution = Evolution(lab, skills, config, tmp_path)
    failures = evolution._failures(Genome("m"), "arithmetic", seed=3)
    dev = {e.prompt for e in evolution.dev["arithmetic"]}
    assert failures and all(p.rsplit("User: ", 1)[1].split("\n")[0] not in dev for p, _ in failures)
    plans: list[Any] = []
    import continuum_academy.evolution as module

    real = module.train
    try:
        module.train = lambda lab, source, plan, **kw: (
            plans.append((source, plan)) or real(lab, source, plan, **kw)
        )
        child = Genome("c", learning_rate=1e-3)
        evolution._train(child, "arithmetic", seed=4, before=0.75)
    finally:
        module.train = real
    source, plan = plans[0]
    assert plan.learning_rate == pytest.approx(1e-3 * 0.25)  # scaled by its error
    assert source.attempts and source.gold_share == 0.5  # half its own failures
    assert child.mutated == "arithmetic" and child.before == 0.75
    child.scores = {"arithmetic": 0.8, "strings": 0.0}
    same = Genome("s", mutated="strings", before=0.0, scores={"strings": 0.0})
    crossed = Genome("x", scores={"arithmetic": 0.1})  # not a mutation alone: not counted
    assert mutation_effects([child, same, crossed]) == {"improved": 1, "harmed": 0, "unchanged": 1}
    # An elite is listed in every generation it survives; it is one mutation.
    assert mutation_effects([child, child, same]) == {"improved": 1, "harmed": 0, "unchanged": 1}


def test_the_shared_prefix_shortcut_gives_the_same_loss_as_full_prompts(
    lab: Any, layers: Any
) -> None:
    from continuum_academy.lab.training import _loss, shared_prefix

    data = examples(lab)[:6]
    prefix = shared_prefix([lab.encode(prompt) for prompt, _ in data])
    assert len(prefix) >= 8  # the rubric and the worked example
    assert lab.tokenizer.decode(prefix).startswith("Write the ones column")
    with lab.lock:
        model = lab.wrap(layers[0])
        try:
            with torch.no_grad():
                full = _loss(model, lab, data, share_prefix=False)
                shared = _loss(model, lab, data)
                mixed = data + examples(lab, "strings")[:5]  # two skills: two prefixes
                mixed_full = _loss(model, lab, mixed, share_prefix=False)
                mixed_shared = _loss(model, lab, mixed)
        finally:
            lab.unwrap(model)
    assert torch.allclose(full, shared, atol=1e-5)
    assert shared_prefix([lab.encode(prompt) for prompt, _ in mixed]) == []
    assert torch.allclose(mixed_full, mixed_shared, atol=1e-5)


def test_the_prefix_attended_once_gives_the_loss_and_gradients_of_the_repeated_cache(
    lab: Any, layers: Any
) -> None:
    """``lab.attention`` keeps one copy of the shared prefix's keys and values;
    the loss and every LoRA gradient match the path that repeats the cache
    across the batch (which a model whose attention does not route through
    transformers' interface still takes)."""
    from continuum_academy.lab import training

    data = examples(lab)[:6]

    def loss_and_grads(fast: bool) -> tuple[Any, list[Any]]:
        kind = type(lab.model)
        if not fast:
            training._NO_SHARED_PREFIX_ATTENTION.add(kind)
        try:
            with lab.lock:
                model = lab.wrap(layers[0], trainable=True)
                try:
                    loss = training._loss(model, lab, data)
                    trainable = [p for p in model.parameters() if p.requires_grad]
                    grads = [g.clone() for g in torch.autograd.grad(loss, trainable)]
                finally:
                    lab.unwrap(model)
        finally:
            training._NO_SHARED_PREFIX_ATTENTION.discard(kind)
        return loss.detach(), grads

    fast_loss, fast_grads = loss_and_grads(True)
    assert type(lab.model) not in training._NO_SHARED_PREFIX_ATTENTION  # it ran in every layer
    slow_loss, slow_grads = loss_and_grads(False)
    assert torch.allclose(fast_loss, slow_loss, atol=1e-6)
    assert len(fast_grads) == len(slow_grads) > 0
    for fast, slow in zip(fast_grads, slow_grads, strict=True):
        assert torch.allclose(fast, slow, atol=1e-6, rtol=1e-4)
    assert lab.model.config._attn_implementation != "continuum_shared_prefix"


def test_a_rank_mutation_keeps_the_update_or_its_best_approximation(lab: Any, layers: Any) -> None:
    from continuum_academy.lab.weights import rerank

    a, _ = layers
    wider = rerank(a, a.rank * 2)
    assert wider.rank == 8 and torch.allclose(logits(lab, wider), logits(lab, a), atol=1e-4)
    narrower = rerank(a, 1)
    assert narrower.rank == 1
    base = logits(lab, None)
    full_change = (logits(lab, a) - base).norm()
    kept = (logits(lab, narrower) - base).norm()
    assert kept > 0 and not torch.allclose(logits(lab, narrower), logits(lab, a))
    assert full_change > 0


def test_gradient_init_points_a_at_the_gradient_and_leaves_the_model_unchanged(lab: Any) -> None:
    from peft.tuners.lora import LoraLayer

    from continuum_academy.lab.training import FixedExamples, _align_to_gradient, _loss

    data = FixedExamples(examples(lab))
    plan = TrainingPlan(rank=4, alpha=4, batch=8, gradient_init_batches=2)
    ids = torch.tensor([lab.encode("User: 12+30=\nStudent:")])
    with lab.lock:
        model = lab.wrap(None, trainable=True, rank=4, alpha=4)
        try:
            with torch.no_grad():
                before = model(input_ids=ids).logits
            _align_to_gradient(model, lab, data, plan)
            with torch.no_grad():
                after = model(input_ids=ids).logits
            layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
            assert all(not m.base_layer.weight.requires_grad for m in layers)
            assert all(m.base_layer.weight.grad is None for m in layers)
            # A's rows are orthogonal directions (singular vectors) at peft's row norm,
            # and the layer is still trainable.
            a = layers[0].lora_A["default"].weight
            rows = a / a.norm(dim=1, keepdim=True)
            assert torch.allclose(rows @ rows.T, torch.eye(4), atol=1e-4)
            assert all(p.requires_grad for n, p in model.named_parameters() if "lora_" in n)
            _loss(model, lab, data.batch(random.Random(0), 8)).backward()
            assert layers[0].lora_B["default"].weight.grad.abs().sum() > 0
        finally:
            lab.unwrap(model)
    assert torch.allclose(before, after)


def test_a_layer_trained_over_a_frozen_one_stacks_on_it_exactly(lab: Any, layers: Any) -> None:
    under, _ = layers
    frozen = under.clone()
    base = logits(lab, None)
    top = train(lab, examples(lab, "strings"), PLAN, under=under).weights
    # The layer beneath is not changed, the new layer is a layer of its own
    # (its own rank and modules), and the model trained was exactly the stack.
    for key, tensor in under.tensors.items():
        assert torch.equal(tensor, frozen.tensors[key])
    assert top.rank == PLAN.rank and set(top.tensors) == set(under.tensors)
    assert not torch.allclose(logits(lab, top), logits(lab, None))
    with lab.lock:
        model = lab.wrap(top, under=under)
        try:
            with torch.no_grad():
                trained = model(input_ids=torch.tensor([lab.encode("User: abc\nStudent:")])).logits
        finally:
            lab.unwrap(model)
    stacked = logits(lab, concat([(under, 1.0), (top, 1.0)]), "User: abc\nStudent:")
    assert torch.allclose(trained, stacked, atol=1e-5)
    assert torch.equal(logits(lab, None), base)  # the base model is unwrapped unchanged


def test_members_grow_their_own_layer_over_inherited_genes(
    lab: Any, layers: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import continuum_academy.evolution as evolution_module

    plans: list[TrainingPlan] = []

    def recording_train(*args: Any, **kwargs: Any) -> Any:
        plans.append(args[2])
        return train(*args, **kwargs)

    monkeypatch.setattr(evolution_module, "train", recording_train)
    seed, _ = layers
    skills = {n: Curriculum.load().get(n) for n in ("arithmetic", "strings")}
    config = EvolutionConfig(
        skills=("arithmetic", "strings"), population=2, dev_exercises=4, train_steps=3, batch=4
    )
    evolution = Evolution(lab, skills, config, Path("unused"), seed_layers=[("seed", seed)])
    member = evolution.seed_population()[1]
    assert [layer.fingerprint() for layer, _ in member.layers] == [seed.fingerprint()]
    evolution._train(member, "strings", seed=1)
    # A fresh layer over the seed, which is kept exactly ...
    assert len(member.layers) == 2 and member.layers[0][0].fingerprint() == seed.fingerprint()
    own = member.layers[1][0].fingerprint()
    evolution._train(member, "strings", seed=2)
    # ... and the member's own layer is what trains on afterwards.
    assert len(member.layers) == 2 and member.layers[0][0].fingerprint() == seed.fingerprint()
    assert member.layers[1][0].fingerprint() != own
    # A mutation refines: its fresh layer starts from peft's random A, not
    # the gradient-aligned one whose first steps are the largest there are.
    assert [p.gradient_init_batches for p in plans] == [0, 0]


def test_a_crossover_keeps_shared_genes_once_and_merges_what_differs(lab: Any, layers: Any) -> None:
    from continuum_academy.evolution import Genome

    seed, other = layers
    skills = {n: Curriculum.load().get(n) for n in ("arithmetic", "strings")}
    config = EvolutionConfig(
        skills=("arithmetic", "strings"), dev_exercises=4, batch=4, merge_steps=3
    )
    evolution = Evolution(lab, skills, config, Path("unused"), seed_layers=[("seed", seed)])
    mine, theirs = perturb(other, 0.5, 1), perturb(other, 0.5, 2)
    a = Genome("a", layers=[(seed, 1.0), (mine, 1.0)])
    b = Genome("b", layers=[(seed, 1.0), (theirs, 1.0)])
    evolution.rng = random.Random(0)
    drawn = set()
    for _ in range(12):
        child, how = evolution.crossover(a, b)
        drawn.add(how.split(" ")[0].removeprefix("cross("))
        assert len(child) == 2 and child[0][0].fingerprint() == seed.fingerprint()
        assert how.startswith("cross(") and "over 1 shared" in how
        if how.startswith("cross(cat"):  # the exact sum: the seed once, both own layers
            exact = concat([(seed, 1.0), (mine, 1.0), (theirs, 1.0)])
            merged = concat(child)
            assert torch.allclose(logits(lab, merged), logits(lab, exact), atol=1e-4)
    assert drawn == set(CROSSOVERS)
    # Nothing beyond the shared genes on one side: the other's stack is the child.
    child, how = evolution.crossover(Genome("s", layers=[(seed, 1.0)]), a)
    assert how == "copy" and [x.fingerprint() for x, _ in child] == [
        seed.fingerprint(),
        mine.fingerprint(),
    ]
    # Nothing shared: the whole stacks are merged into one layer.
    child, how = evolution.crossover(Genome("x", layers=[(mine, 1.0)]), b)
    assert len(child) == 1 and "shared" not in how


def test_a_learned_merge_starts_at_the_mean_and_fits_its_coefficients(
    lab: Any, layers: Any
) -> None:
    from continuum_academy.lab.merge import learned_merge
    from continuum_academy.lab.training import FixedExamples, _loss

    a, b = layers
    under = perturb(b, 0.5, 3)
    sources = [FixedExamples(examples(lab, "arithmetic")), FixedExamples(examples(lab, "strings"))]

    def loss(top: LoraWeights) -> float:
        with lab.lock:
            model = lab.wrap(top, under=under)
            try:
                with torch.no_grad():
                    pairs = [p for s in sources for p in s.pairs]
                    return float(_loss(model, lab, pairs))
            finally:
                lab.unwrap(model)

    start = learned_merge(lab, [a, b], sources, steps=0, under=under)
    mean = concat([(a, 0.5), (b, 0.5)])
    assert start.rank == a.rank + b.rank
    assert torch.allclose(logits(lab, start), logits(lab, mean), atol=1e-5)
    for per_direction in (False, True):
        fitted = learned_merge(
            lab, [a, b], sources, steps=30, batch=8, under=under, per_direction=per_direction
        )
        assert loss(fitted) < loss(start)
        # Only the coefficients move: each module's A is the parents' A, unchanged,
        # and B's columns are scaled (per parent, or per direction).
        for key, tensor in start.tensors.items():
            if "lora_A" in key:
                assert torch.equal(tensor, fitted.tensors[key])
            elif not per_direction:  # each parent's block of B, times one number
                blocks = zip(
                    tensor.split([a.rank, b.rank], dim=1),
                    fitted.tensors[key].split([a.rank, b.rank], dim=1),
                    strict=True,
                )
                for before, after in blocks:
                    c = (after * before).sum() / (before * before).sum()
                    assert torch.allclose(after, c * before, atol=1e-5)
    with pytest.raises(ValueError, match="two or more parents"):
        learned_merge(lab, [a], sources)


def test_a_layer_trained_to_be_silent_acts_less_on_the_other_skill(lab: Any) -> None:
    from continuum_academy.lab.training import FixedExamples, _silence

    strings = FixedExamples(examples(lab, "strings"))
    plan = TrainingPlan(rank=4, alpha=8, learning_rate=3e-3, steps=20, batch=4, seed=3)

    def trained(silence: float) -> LoraWeights:
        quiet = replace(plan, silence=silence)
        return train(lab, examples(lab, "arithmetic"), quiet, silent_on=strings).weights

    def acts(layer: LoraWeights) -> float:
        with lab.lock:
            model = lab.wrap(layer)
            try:
                with torch.no_grad():
                    return float(_silence(model, lab, strings.pairs))
            finally:
                lab.unwrap(model)

    loud, quiet = trained(0.0), trained(50.0)
    assert acts(quiet) < 0.5 * acts(loud)
    # Weight 0 is the plain training, step for step.
    plain = train(lab, examples(lab, "arithmetic"), plan).weights
    assert plain.fingerprint() == loud.fingerprint()


def test_the_budget_stops_a_run_with_room_left_for_its_last_checks() -> None:
    from continuum_academy.lab import autotrain

    spent = [0.0]
    stop = autotrain.budget_stop(
        lambda: spent[0], 600.0, eval_seconds=5.0, step_seconds=0.5, evals_after=2
    )
    room = (0.5 + 2 * 5.0) * autotrain.threads()
    spent[0] = 600.0 - room - 1
    assert not stop()
    spent[0] = 600.0 - room + 1
    assert stop()


def test_the_recipe_probes_rates_for_a_short_run_and_not_for_a_long_one(lab: Any) -> None:
    """The same budget, once under a long-run threshold it cannot reach and
    once over one it passes: probes and a reason from their dev losses, or
    the default rate unprobed and a reason that says so. And
    where the budget pays for too few steps at the usual batch, the smaller
    batch, timed again."""
    from continuum_academy import recipe
    from continuum_academy.lab import autotrain

    pairs = examples(lab, n=48)

    def choose(**thresholds: Any) -> autotrain.Choice:
        return autotrain.choose(
            lab, pairs[:32], pairs[32:], cpu_seconds=60.0, cpu_spent=lambda: 0.0,
            eval_seconds=0.1, seed=0, train_examples=None, **thresholds,
        )  # fmt: skip

    probed = choose(long_run=10**9, few_steps=0)
    assert set(probed.probes) == set(recipe.PROBE_RATES) and probed.recipe.batch == recipe.BATCH
    assert any("dev loss after" in reason for reason in probed.recipe.reasons)
    unprobed = choose(long_run=0, few_steps=0)
    assert unprobed.probes == {} and unprobed.recipe.learning_rate == recipe.LEARNING_RATE
    assert any("is long" in reason for reason in unprobed.recipe.reasons)
    small = choose(long_run=0, few_steps=10**9)
    assert small.recipe.batch == recipe.SMALL_BATCH
    assert any(reason.startswith("batch 16: the budget") for reason in small.recipe.reasons)


def test_token_accuracy_counts_every_answer_token_once_across_chunks(lab: Any, layers: Any) -> None:
    """Teacher-forced token accuracy (the screening benchmark's continuous
    measure) over 40 pairs, which it scores in chunks of 32 with padding,
    equals the count made one pair at a time without any padding."""
    from continuum_academy.lab.probe import token_accuracy
    from continuum_academy.lab.training import _batch

    pairs = examples(lab, n=40)
    right = scored = 0
    for prompt, answer in pairs:
        x, y, _ = _batch(lab, [lab.encode(prompt)], [answer])
        with lab.using(layers[0]) as model, torch.no_grad():
            predicted = model(input_ids=x).logits[:, :-1].argmax(-1)
        gold = y[:, 1:]
        right += int(((predicted == gold) & (gold != -100)).sum())
        scored += int((gold != -100).sum())
    measured = token_accuracy(lab, layers[0], pairs)
    assert measured == pytest.approx(right / scored)
    assert 0.0 < measured < 1.0
