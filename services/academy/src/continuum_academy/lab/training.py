"""Fine-tuning a LoRA layer on (prompt, answer) pairs, resumable after a crash.

The loss covers the answer's tokens only, written the way the model writes
a turn after the prompt (``reply_text``: in a plain transcript a space after
the speaker's name, and the newline that ends a turn in the transcripts the
built-in model was pre-trained on; it never saw an end-of-text token, so
asking it to learn one costs most of a short training run).
Batches are a pure function of (seed, step), so a resumed job sees exactly
the batches it would have seen. Every ``checkpoint_every`` steps the LoRA
weights and AdamW's moments are written with safetensors (never pickle)
next to a small JSON file, each by write-then-rename: a kill at any moment
leaves the previous complete checkpoint.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from continuum_academy.lab import attention
from continuum_academy.lab.model import Lab
from continuum_academy.lab.weights import ADAPTER_WEIGHTS, LoraWeights
from continuum_academy.lab.weights import load as load_weights
from continuum_lm.prompt import reply_text

Progress = Callable[[int, int, float], None]
Pair = tuple[str, str]


class Examples(Protocol):
    """Where a step's (prompt, answer) pairs come from: a function of an RNG.

    The RNG is seeded from (plan seed, step), so whatever the source (a fixed
    list, or a skill generating fresh problems), a resumed job sees exactly
    the batches the uninterrupted one would have.
    """

    def batch(self, rng: random.Random, size: int) -> list[Pair]: ...


@dataclass(frozen=True)
class FixedExamples:
    """Uniform draws, with replacement, from a fixed list of pairs."""

    pairs: Sequence[Pair]

    def batch(self, rng: random.Random, size: int) -> list[Pair]:
        return [self.pairs[rng.randrange(len(self.pairs))] for _ in range(size)]


CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"
BEST = "best"  # a peft directory: the best checked layer so far


@dataclass(frozen=True)
class TrainingPlan:
    rank: int = 16
    alpha: float = 32.0
    learning_rate: float = 3e-3
    steps: int = 300
    batch: int = 32
    seed: int = 0
    checkpoint_every: int = 50
    target_modules: tuple[str, ...] = ()
    #: "constant" (after a short warmup) or "cosine" (decay to 5%).
    schedule: str = "constant"
    #: Batches whose full gradient orients a new layer's A matrices (0: peft's random A).
    gradient_init_batches: int = 8
    #: "bfloat16" runs the matrix products under CPU autocast (weights, the optimizer and
    #: the checkpoints stay float32): about 1.2x the steps a second where the CPU has bf16
    #: instructions, but on two-digit arithmetic it learned less in the same time
    #: (docs/benchmarks.md), so float32 is the default.
    precision: str = "float32"
    #: Weight of the penalty for the layer acting on the ``silent_on`` examples
    #: (other skills' prompts and answers), and how many of them a step sees.
    silence: float = 1.0
    silence_batch: int = 4
    #: Check dev accuracy every this many steps (0: never); stop at ``target`` or after
    #: ``patience`` checks without a gain, and return the best checked layer.
    eval_every: int = 0
    patience: int = 4
    target: float = 1.0


@dataclass(frozen=True)
class TrainingResult:
    weights: LoraWeights
    final_loss: float
    seconds: float
    resumed_from_step: int
    steps_done: int = 0
    #: (step, dev accuracy) of every check, and why the run stopped where it did.
    checks: tuple[tuple[int, float], ...] = ()
    stopped: str = ""


#: A prompt prefix shared by every example is computed once per step when it
#: is at least this long (the rubric and worked examples of a skill's exercises).
MIN_SHARED_PREFIX = 8


def lr_factor(schedule: str, steps: int, step: int) -> float:
    """The learning rate at ``step`` as a share of the plan's: a linear warmup
    (5% of the steps, at most 100), then constant or a cosine down to 5%."""
    warmup = max(1, min(100, steps // 20))
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    done = (step - warmup) / max(1, steps - warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done))


def shared_prefix(prompts: Sequence[list[int]]) -> list[int]:
    """The longest token prefix common to every prompt (token ids)."""
    prefix = prompts[0]
    for ids in prompts[1:]:
        n = 0
        while n < min(len(prefix), len(ids)) and prefix[n] == ids[n]:
            n += 1
        prefix = prefix[:n]
        if not prefix:
            break
    # Keep at least one token of every prompt out of the prefix.
    return prefix if len(prefix) >= MIN_SHARED_PREFIX else []


def _loss(model: Any, lab: Lab, pairs: Sequence[Pair], share_prefix: bool = True) -> Any:
    """The answer-token loss of a batch.

    With a shared prefix (a skill's rubric and worked examples: most of each
    prompt), the prefix is run once and its keys and values are repeated
    across the batch, so a step costs about the answers' share of the
    tokens instead of every prompt in full. A batch that mixes skills is
    split by prompt opening into groups that each share a prefix, and their
    losses are weighted by answer tokens. The loss is the same (checked
    against the full sequence in the tests); gradients flow through the
    cache into the LoRA weights.
    """
    prompts = [lab.encode(prompt) for prompt, _ in pairs]
    answers = [answer for _, answer in pairs]
    if not share_prefix:
        x, y, mask = _batch(lab, prompts, answers)
        return model(input_ids=x, attention_mask=mask, labels=y).loss
    groups: dict[tuple[int, ...], list[int]] = {}
    for index, ids in enumerate(prompts):  # a mix of skills: one group per skill's prompt
        groups.setdefault(tuple(ids[:MIN_SHARED_PREFIX]), []).append(index)
    if len(groups) == 1:
        return _prefix_loss(model, lab, prompts, answers)[0]
    parts = [
        _prefix_loss(model, lab, [prompts[i] for i in members], [answers[i] for i in members])
        for members in groups.values()
    ]
    return sum(loss * count for loss, count in parts) / max(1, sum(c for _, c in parts))


def _prefix_loss(
    model: Any, lab: Lab, prompts: Sequence[list[int]], answers: Sequence[str]
) -> tuple[Any, int]:
    """The mean answer-token loss of prompts that may share a prefix, and how
    many answer tokens it is the mean over."""
    import torch

    prefix = shared_prefix(prompts)
    x, y, mask = _batch(lab, prompts, answers, len(prefix))
    count = int((y[:, 1:] != -100).sum())
    if not prefix:
        return model(input_ids=x, attention_mask=mask, labels=y).loss, count
    batch, width = x.shape
    out = model(input_ids=torch.tensor([prefix]), use_cache=True)
    cache = out.past_key_values
    positions = torch.arange(len(prefix), len(prefix) + width).unsqueeze(0).expand(batch, width)
    fast = _shared_prefix_forward(model, cache, x, mask, positions, y)
    if fast is not None:
        return fast, count
    cache.batch_repeat_interleave(batch)
    full_mask = torch.cat([torch.ones(batch, len(prefix), dtype=mask.dtype), mask], dim=1)
    loss = model(
        input_ids=x,
        attention_mask=full_mask,
        cache=cache,
        position_ids=positions,
        labels=y,
    ).loss
    return loss, count


#: Model classes whose attention does not route through transformers'
#: attention interface: they take the repeated cache instead.
_NO_SHARED_PREFIX_ATTENTION: set[type] = set()


def _shared_prefix_forward(
    model: Any, cache: Any, x: Any, mask: Any, positions: Any, y: Any
) -> Any:
    """The batch's loss with the prefix's keys and values attended once
    (``lab.attention``), or None where the model cannot (the caller then
    repeats the cache across the batch, as transformers does)."""
    kind = type(attention.base_of(model))
    if kind in _NO_SHARED_PREFIX_ATTENTION:
        return None
    try:
        prefix_kv = [(layer.keys, layer.values) for layer in cache.layers]
    except AttributeError:  # a cache that does not keep one key tensor per layer
        _NO_SHARED_PREFIX_ATTENTION.add(kind)
        return None
    calls = attention.Calls()
    with attention.switched_on(model):
        loss = model(
            input_ids=x,
            attention_mask=mask,
            position_ids=positions,
            labels=y,
            use_cache=False,
            **{attention.KWARG: prefix_kv, "shared_prefix_calls": calls},
        ).loss
    if len(calls.layers) != attention.layers_of(model):
        _NO_SHARED_PREFIX_ATTENTION.add(kind)  # some layer attended without the prefix
        return None
    return loss


def _batch(
    lab: Lab, prompts: Sequence[list[int]], answers: Sequence[str], skip: int = 0
) -> tuple[Any, Any, Any]:
    import torch

    ids, labels = [], []
    for prompt, answer in zip(prompts, answers, strict=True):
        p, a = prompt[skip:], lab.encode(reply_text(lab.tokenizer, answer))
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, ids))
    x = torch.tensor([i + [lab.pad] * (width - len(i)) for i in ids])
    y = torch.tensor([label + [-100] * (width - len(label)) for label in labels])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    return x, y, mask


def train(
    lab: Lab,
    examples: Sequence[Pair] | Examples,
    plan: TrainingPlan,
    *,
    init: LoraWeights | None = None,
    under: LoraWeights | None = None,
    silent_on: Examples | None = None,
    workdir: Path | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    evaluate: Callable[[Any], float] | None = None,
) -> TrainingResult:
    """Train a LoRA (from ``init`` when given, over a frozen ``under`` layer
    when given: the result is the new layer alone); resume from ``workdir``'s
    checkpoint.

    ``silent_on``: examples (other skills) on which the layer learns to stay
    silent (``silence``): layers trained so compose by merging, each leaving
    the other's skill as the model below had it.

    ``evaluate``: the dev accuracy of the model being trained, checked every
    ``plan.eval_every`` steps (and at the end); the run stops early as
    ``EarlyStopping`` decides and returns the best checked layer. Checks and
    the best layer are part of the checkpoint, so a resumed run stops where
    the uninterrupted one would have.
    """
    import torch
    from safetensors.torch import load_file, save_file

    from continuum_academy.recipe import EarlyStopping

    if isinstance(examples, Sequence):
        if not examples:
            raise ValueError("training needs at least one example")
        examples = FixedExamples(examples)
    torch.manual_seed(plan.seed)
    started = time.perf_counter()
    with lab.lock:
        model = lab.wrap(
            init,
            trainable=True,
            rank=plan.rank,
            alpha=plan.alpha,
            targets=plan.target_modules or None,
            under=under,
        )
        try:
            model.train()
            params = {n: p for n, p in model.named_parameters() if p.requires_grad}
            optimizer = torch.optim.AdamW(list(params.values()), lr=plan.learning_rate)

            def lr_at(step: int) -> float:
                return lr_factor(plan.schedule, plan.steps, step)

            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
            first = 0
            if workdir is not None and (workdir / CHECKPOINT_META).exists():
                first = _restore(model, optimizer, scheduler, params, workdir, load_file)
                # The schedule continues where it was (no replayed steps, no warning).
                scheduler.last_epoch = first
                for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                    group["lr"] = base * lr_at(first)
            resumed_from = first
            stopping = EarlyStopping(plan.patience, plan.target)
            best: LoraWeights | None = None
            if first and workdir is not None and evaluate is not None:
                stopping.history = _restore_checks(workdir)
                if (workdir / BEST / ADAPTER_WEIGHTS).exists():
                    best = load_weights(workdir / BEST)
            if init is None and first == 0 and plan.gradient_init_batches:
                _align_to_gradient(model, lab, examples, plan)
            loss_value = float("nan")
            done = first
            stopped = ""

            def check(step: int) -> bool:
                nonlocal best
                assert evaluate is not None
                accuracy = evaluate(model)
                stop = stopping.observe(step, accuracy)
                if stopping.best == (step, accuracy):
                    best = LoraWeights.from_peft(model)
                    if workdir is not None:
                        best.save(workdir / BEST)
                return stop

            for step in range(first, plan.steps):
                if should_stop is not None and should_stop():
                    stopped = "the budget ran out"
                    break  # a budget ran out: the weights so far are the result
                rng = random.Random(plan.seed * 1_000_003 + step)
                with torch.autocast("cpu", torch.bfloat16, enabled=plan.precision == "bfloat16"):
                    loss = _loss(model, lab, examples.batch(rng, plan.batch))
                    if silent_on is not None and plan.silence:
                        quiet = silent_on.batch(rng, plan.silence_batch)
                        loss = loss + plan.silence * _silence(model, lab, quiet)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                loss_value = float(loss.item())
                if progress is not None:
                    progress(step + 1, plan.steps, loss_value)
                done = step + 1
                if (
                    evaluate is not None
                    and plan.eval_every
                    and done % plan.eval_every == 0
                    and done < plan.steps
                    and check(done)
                ):
                    stopped = stopping.reason
                    break
                if workdir is not None and (
                    done % plan.checkpoint_every == 0 and done < plan.steps
                ):
                    _checkpoint(
                        optimizer, params, done, loss_value, workdir, save_file, stopping.history
                    )
            weights = LoraWeights.from_peft(model)
            if evaluate is not None:
                if not stopping.history or stopping.history[-1][0] != done:
                    check(done)
                stopped = stopped or stopping.reason
                weights = best or weights
        finally:
            lab.unwrap(model)
    return TrainingResult(
        weights,
        loss_value,
        time.perf_counter() - started,
        resumed_from,
        done,
        tuple(stopping.history),
        stopped or "the planned steps are done",
    )


def _silence(model: Any, lab: Lab, pairs: Sequence[Pair]) -> Any:
    """How much the trained layer acts on ``pairs``: the mean square of each
    of its modules' outputs over those prompts' and answers' tokens, summed
    over modules. Zero when the layer leaves them as the model below has them.
    """
    outputs: list[Any] = []
    hooks = [
        module.register_forward_hook(lambda _m, _i, out: outputs.append(out))
        for name, module in model.named_modules()
        if name.endswith("lora_B.default")
    ]
    try:
        x, _, mask = _batch(lab, [lab.encode(p) for p, _ in pairs], [a for _, a in pairs])
        model(input_ids=x, attention_mask=mask)
    finally:
        for hook in hooks:
            hook.remove()
    weight = mask.unsqueeze(-1).to(outputs[0].dtype)
    tokens = weight.sum()
    return sum((out.float().pow(2) * weight).sum() / (tokens * out.shape[-1]) for out in outputs)


def _align_to_gradient(model: Any, lab: Lab, examples: Examples, plan: TrainingPlan) -> None:
    """Point each new LoRA's A at the directions the task's gradient wants.

    A new LoRA starts with B = 0 (the model is unchanged) and a random A, so
    early on B only sees the gradient's projection onto a random rank-r
    subspace, and the layer learns slowly until A has turned. Here A's rows
    are set to the top right singular vectors of the base weight's full
    gradient over a few batches (as in LoRA-GA and LoRA-One), at peft's own
    row norm; B stays zero, so the model is still exactly the base model.
    The batches come from the plan's seed, so the start is reproducible.
    """
    import torch
    from peft.tuners.lora import LoraLayer

    layers: list[Any] = [m for m in model.modules() if isinstance(m, LoraLayer)]
    trainable = [p for p in model.parameters() if p.requires_grad]
    bases: list[Any] = [m.base_layer.weight for m in layers]
    for param in trainable:
        param.requires_grad_(False)
    try:
        for base in bases:
            base.requires_grad_(True)
        for i in range(plan.gradient_init_batches):
            rng = random.Random(f"gradient-init:{plan.seed}:{i}")
            _loss(model, lab, examples.batch(rng, plan.batch)).backward()
        with torch.no_grad():
            for layer, base in zip(layers, bases, strict=True):
                if "default" not in layer.lora_A:  # a module only a frozen layer under it has
                    continue
                a = layer.lora_A["default"].weight
                if base.grad is None or a.shape[1] != base.shape[1]:
                    continue
                _, _, vh = torch.linalg.svd(base.grad.float(), full_matrices=False)
                rows = min(a.shape[0], vh.shape[0])
                norm = a.norm(dim=1).mean()
                a[:rows].copy_(vh[:rows] * norm)
    finally:
        for base in bases:
            base.grad = None
            base.requires_grad_(False)
        for param in trainable:
            param.requires_grad_(True)


def _checkpoint(
    optimizer: Any,
    params: dict[str, Any],
    step: int,
    loss: float,
    workdir: Path,
    save: Any,
    checks: Sequence[tuple[int, float]] = (),
) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for name, param in params.items():
        tensors[f"param/{name}"] = param.detach().clone()
        state = optimizer.state.get(param, {})
        for moment in ("exp_avg", "exp_avg_sq"):
            if moment in state:
                tensors[f"{moment}/{name}"] = state[moment].detach().clone()
    tmp = workdir / (CHECKPOINT + ".tmp")
    save(tensors, str(tmp))
    tmp.replace(workdir / CHECKPOINT)
    meta = workdir / (CHECKPOINT_META + ".tmp")
    meta.write_text(json.dumps({"step": step, "loss": loss, "checks": list(checks)}))
    meta.replace(workdir / CHECKPOINT_META)


def _restore_checks(workdir: Path) -> list[tuple[int, float]]:
    """The dev checks made before the checkpoint (later ones are made again)."""
    meta = json.loads((workdir / CHECKPOINT_META).read_text())
    return [(int(step), float(score)) for step, score in meta.get("checks", [])]


def _restore(
    model: Any, optimizer: Any, scheduler: Any, params: dict[str, Any], workdir: Path, load: Any
) -> int:
    import torch

    step = int(json.loads((workdir / CHECKPOINT_META).read_text())["step"])
    tensors = load(str(workdir / CHECKPOINT))
    with torch.no_grad():
        for name, param in params.items():
            saved = tensors.get(f"param/{name}")
            if saved is None or saved.shape != param.shape:
                raise ValueError(f"the checkpoint in {workdir} does not match this job")
            param.copy_(saved)
            if f"exp_avg/{name}" in tensors:
                optimizer.state[param] = {
                    "step": torch.tensor(float(step)),
                    "exp_avg": tensors[f"exp_avg/{name}"],
                    "exp_avg_sq": tensors[f"exp_avg_sq/{name}"],
                }
    return step
