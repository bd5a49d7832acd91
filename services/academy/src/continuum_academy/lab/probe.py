"""Short measured runs that the recipe's choices rest on (``recipe``).

Everything here trains or evaluates on the job's own data: the step time on
its own batches (a skill with long prompts costs more a step than one with
short ones), the learning rates on its own dev exercises. Nothing here
touches the held-out split.
"""

from __future__ import annotations

import itertools
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from continuum_academy.exams import verdicts
from continuum_academy.lab.model import Lab
from continuum_academy.lab.training import Examples, Pair, TrainingPlan, _batch, _loss, train
from continuum_academy.lab.weights import LoraWeights
from continuum_academy.render import max_answer_tokens
from continuum_academy.sandbox import SandboxLimits
from continuum_academy.skills import Exercise

#: Alternating rounds of the step-time measurement.
ROUNDS = 2


def step_seconds(
    lab: Lab, examples: Examples, plan: TrainingPlan, precisions: Sequence[str], steps: int
) -> dict[str, float]:
    """Wall seconds per training step in each precision, on the job's batches:
    the median step of ``ROUNDS`` alternating rounds per precision (the first
    step of each round, which pays for allocation, is not counted). Measured
    one precision after the other, six steps each, the ratio between them
    swung from 1.1x to 1.6x between runs on the same machine (docs/
    benchmarks.md, run E), and the recipe's choice of precision with it."""
    per_round = max(1, -(-steps // ROUNDS))
    times: dict[str, list[float]] = {precision: [] for precision in precisions}
    for _ in range(ROUNDS):
        for precision in precisions:
            marks: list[float] = []

            def mark(_step: int, _total: int, _loss: float, marks: list[float] = marks) -> None:
                marks.append(time.perf_counter())

            timed = replace(plan, steps=per_round + 1, precision=precision, gradient_init_batches=0)
            train(lab, examples, timed, progress=mark)
            times[precision] += [b - a for a, b in itertools.pairwise(marks)]
    return {precision: statistics.median(seconds) for precision, seconds in times.items()}


def dev_loss(lab: Lab, weights: LoraWeights | None, pairs: Sequence[Pair]) -> float:
    """The mean answer-token loss of ``weights`` on (prompt, gold) pairs."""
    import torch

    with lab.using(weights) as model, torch.no_grad():
        losses = [float(_loss(model, lab, pairs[i : i + 32])) for i in range(0, len(pairs), 32)]
    value = sum(losses) / max(1, len(losses))
    return value if math.isfinite(value) else float("inf")


def token_accuracy(lab: Lab, weights: LoraWeights | None, pairs: Sequence[Pair]) -> float:
    """The share of the gold answers' tokens that ``weights`` predicts right,
    each given the prompt and the answer so far (teacher-forced). Exact match
    scores a long answer 0 until every token is right; this separates layers
    (or base models) that are still short of whole right answers."""
    import torch

    right = scored = 0
    with lab.using(weights) as model, torch.no_grad():
        for i in range(0, len(pairs), 32):
            chunk = pairs[i : i + 32]
            prompts = [lab.encode(prompt) for prompt, _ in chunk]
            x, y, mask = _batch(lab, prompts, [answer for _, answer in chunk])
            logits = model(input_ids=x, attention_mask=mask).logits
            predicted, gold = logits[:, :-1].argmax(-1), y[:, 1:]
            answer = gold != -100
            right += int(((predicted == gold) & answer).sum())
            scored += int(answer.sum())
    return right / max(1, scored)


def probe_rates(
    lab: Lab,
    examples: Examples,
    plan: TrainingPlan,
    rates: Sequence[float],
    dev: Sequence[Pair],
    *,
    init: LoraWeights | None = None,
    under: LoraWeights | None = None,
) -> dict[float, float]:
    """Dev loss after ``plan.steps`` steps at each learning rate, from the same start."""
    out = {}
    for rate in rates:
        result = train(lab, examples, replace(plan, learning_rate=rate), init=init, under=under)
        out[rate] = dev_loss(lab, result.weights, dev)
    return out


def dev_accuracy(
    lab: Lab,
    exercises: Sequence[Exercise],
    prompts: Sequence[str],
    limits: SandboxLimits | None = None,
) -> Callable[[Any], float]:
    """A check for ``train(evaluate=...)``: the share of ``exercises`` the model
    being trained answers right (greedy, as an exam; ``train`` holds the lock)."""
    tokens = max_answer_tokens(list(exercises))

    def evaluate(model: Any) -> float:
        answers = lab.greedy(model, prompts, tokens)
        results = verdicts(exercises, answers, limits)
        return sum(results) / max(1, len(results))

    return evaluate
