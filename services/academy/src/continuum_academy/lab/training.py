"""Fine-tuning a LoRA layer on (prompt, answer) pairs, resumable after a crash.

The loss covers the answer tokens and the newline after them only: an
answer ends the way a turn ends in the transcripts the model was
pre-trained on (it never saw an end-of-text token, so asking it to learn
one costs most of a short training run).
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
from typing import Any

from continuum_academy.lab.model import Lab
from continuum_academy.lab.weights import LoraWeights

Progress = Callable[[int, int, float], None]
CHECKPOINT = "checkpoint.safetensors"
CHECKPOINT_META = "checkpoint.json"


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


@dataclass(frozen=True)
class TrainingResult:
    weights: LoraWeights
    final_loss: float
    seconds: float
    resumed_from_step: int
    steps_done: int = 0


#: A prompt prefix shared by every example is computed once per step when it
#: is at least this long (the rubric and worked examples of a skill's exercises).
MIN_SHARED_PREFIX = 8


def shared_prefix(lab: Lab, examples: Sequence[tuple[str, str]]) -> list[int]:
    """The longest token prefix common to every example's prompt."""
    prefix = lab.encode(examples[0][0])
    for prompt, _ in examples[1:]:
        ids = lab.encode(prompt)
        n = 0
        while n < min(len(prefix), len(ids)) and prefix[n] == ids[n]:
            n += 1
        prefix = prefix[:n]
        if not prefix:
            break
    # Keep at least one token of every prompt out of the prefix.
    return prefix if len(prefix) >= MIN_SHARED_PREFIX else []


def _loss(model: Any, lab: Lab, pairs: Sequence[tuple[str, str]], prefix: list[int]) -> Any:
    """The answer-token loss of a batch.

    With a shared prefix (a skill's rubric and worked examples: most of each
    prompt), the prefix is run once and its keys and values are repeated
    across the batch, so a step costs about the answers' share of the
    tokens instead of every prompt in full. The loss is the same (checked
    against the full sequence in the tests); gradients flow through the
    cache into the LoRA weights.
    """
    import torch

    x, y, mask = _batch(lab, pairs, len(prefix))
    if not prefix:
        return model(input_ids=x, attention_mask=mask, labels=y).loss
    batch, width = x.shape
    out = model(input_ids=torch.tensor([prefix]), use_cache=True)
    cache = out.past_key_values
    cache.batch_repeat_interleave(batch)
    full_mask = torch.cat([torch.ones(batch, len(prefix), dtype=mask.dtype), mask], dim=1)
    positions = torch.arange(len(prefix), len(prefix) + width).unsqueeze(0).expand(batch, width)
    return model(
        input_ids=x,
        attention_mask=full_mask,
        cache=cache,
        position_ids=positions,
        labels=y,
    ).loss


def _batch(lab: Lab, pairs: Sequence[tuple[str, str]], skip: int = 0) -> tuple[Any, Any, Any]:
    import torch

    ids, labels = [], []
    for prompt, answer in pairs:
        p, a = lab.encode(prompt)[skip:], lab.encode(answer + "\n")
        ids.append(p + a)
        labels.append([-100] * len(p) + a)
    width = max(map(len, ids))
    x = torch.tensor([i + [lab.pad] * (width - len(i)) for i in ids])
    y = torch.tensor([label + [-100] * (width - len(label)) for label in labels])
    mask = torch.tensor([[1] * len(i) + [0] * (width - len(i)) for i in ids])
    return x, y, mask


def train(
    lab: Lab,
    examples: Sequence[tuple[str, str]],
    plan: TrainingPlan,
    *,
    init: LoraWeights | None = None,
    workdir: Path | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> TrainingResult:
    """Train a LoRA (from ``init`` when given); resume from ``workdir``'s checkpoint."""
    import torch
    from peft import get_peft_model_state_dict
    from safetensors.torch import load_file, save_file

    if not examples:
        raise ValueError("training needs at least one example")
    torch.manual_seed(plan.seed)
    started = time.perf_counter()
    with lab.lock:
        model = lab.wrap(
            init,
            trainable=True,
            rank=plan.rank,
            alpha=plan.alpha,
            targets=plan.target_modules or None,
        )
        try:
            model.train()
            params = {n: p for n, p in model.named_parameters() if p.requires_grad}
            optimizer = torch.optim.AdamW(list(params.values()), lr=plan.learning_rate)
            warmup = max(1, plan.steps // 20)

            def lr_at(step: int) -> float:
                if step < warmup:
                    return (step + 1) / warmup
                done = (step - warmup) / max(1, plan.steps - warmup)
                return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * done))

            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
            first = 0
            if workdir is not None and (workdir / CHECKPOINT_META).exists():
                first = _restore(model, optimizer, scheduler, params, workdir, load_file)
                # The schedule continues where it was (no replayed steps, no warning).
                scheduler.last_epoch = first
                for group, base in zip(optimizer.param_groups, scheduler.base_lrs, strict=True):
                    group["lr"] = base * lr_at(first)
            resumed_from = first
            prefix = shared_prefix(lab, examples)
            loss_value = float("nan")
            done = first
            for step in range(first, plan.steps):
                if should_stop is not None and should_stop():
                    break  # a budget ran out: the weights so far are the result
                rng = random.Random(plan.seed * 1_000_003 + step)
                chosen = [examples[rng.randrange(len(examples))] for _ in range(plan.batch)]
                loss = _loss(model, lab, chosen, prefix)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                loss_value = float(loss.item())
                if progress is not None:
                    progress(step + 1, plan.steps, loss_value)
                done = step + 1
                if workdir is not None and (
                    done % plan.checkpoint_every == 0 and done < plan.steps
                ):
                    _checkpoint(optimizer, params, done, loss_value, workdir, save_file)
            state = get_peft_model_state_dict(model, save_embedding_layers=False)
            config = model.peft_config["default"]
            weights = LoraWeights(
                {k: v.detach().clone() for k, v in state.items()},
                int(config.r),
                float(config.lora_alpha),
                sorted(config.target_modules),
            )
        finally:
            lab.unwrap(model)
    return TrainingResult(weights, loss_value, time.perf_counter() - started, resumed_from, done)


def _checkpoint(
    optimizer: Any, params: dict[str, Any], step: int, loss: float, workdir: Path, save: Any
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
    meta.write_text(json.dumps({"step": step, "loss": loss}))
    meta.replace(workdir / CHECKPOINT_META)


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
