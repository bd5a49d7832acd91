"""Choosing among a few known answers by the model's own likelihood.

When the answer must be one of a handful of options (a legal move), asking
the model to write it and hoping it writes a legal one wastes turns on
refusals, most of all with a small model. Scoring each option instead, as
the reply the model would write after the prompt, always yields a legal
answer and is still the model's decision: a layer trained to play better
moves raises the likelihood of better moves. One batched forward pass.
"""

from __future__ import annotations

from typing import Any

from continuum_lm.prompt import reply_text


def option_logprobs(model: Any, tokenizer: Any, prompt: str, options: list[str]) -> list[float]:
    """log P(option as the model's reply | prompt), one number per option."""
    import torch

    if not options:
        return []
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    rows = [
        prompt_ids + tokenizer(reply_text(tokenizer, option), add_special_tokens=False)["input_ids"]
        for option in options
    ]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask).logits
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    start = len(prompt_ids)
    scores = []
    for i, row in enumerate(rows):
        targets = ids[i, start : len(row)]
        picked = logp[i, start - 1 : len(row) - 1].gather(-1, targets[:, None])
        scores.append(float(picked.sum()))
    return scores
