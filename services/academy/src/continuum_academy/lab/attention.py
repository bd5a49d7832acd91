"""Attention over a prompt prefix that every example in a batch shares.

A skill's exercises share their rubric and worked examples (most of each
prompt), so a training step runs that prefix once (``training._prefix_loss``)
and attends each example's own tokens to it. Handing the prefix to the
model as a key-value cache repeated across the batch (transformers' way)
makes every layer build a ``batch x (prefix + own)`` key tensor by
concatenation and compute, in the backward pass, gradients for every
repeated copy of the prefix's keys and values before summing them: on the
built-in model with arithmetic's 134-token prefix and 26 own tokens, the
profiler put the concatenations and the attention's backward at about a
third of a step. Timed side by side, attending once took arithmetic's step
from 0.165 to 0.135 s in bfloat16 and about 5% off in float32 (ADR 0021).

Here the prefix's keys and values stay one copy: each head's queries of the
whole batch are folded into one matrix that meets the prefix's keys in one
product, the scores of prefix and own tokens share one softmax, and the
backward pass sums over the batch inside the same products. The loss and
gradients are the same (checked against full prompts in the tests).

It is a transformers attention implementation, switched on only for the
forward pass that needs it, with the prefix passed as a keyword argument.
A model whose attention layers do not route through transformers'
attention interface never calls it: ``Calls`` records the layers it ran
in, so the caller (``training._shared_prefix_forward``) can tell and fall
back to the repeated cache.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

NAME = "continuum_shared_prefix"
#: The keyword argument that carries the prefix's (keys, values) per layer.
KWARG = "shared_prefix_kv"

_registered = False


def register() -> None:
    """Make ``NAME`` an attention implementation transformers knows (with the
    eager, additive mask for the own tokens: causal and padding)."""
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, shared_prefix_attention)
    AttentionMaskInterface.register(NAME, eager_mask)
    _registered = True


class Calls:
    """Which layers the attention ran in during one forward pass."""

    def __init__(self) -> None:
        self.layers: set[int] = set()


def shared_prefix_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    scaling: float,
    dropout: float = 0.0,
    **kwargs: Any,
) -> tuple[Any, None]:
    """Attention of each example's own tokens to the shared prefix (every
    position) and to its own earlier tokens (``attention_mask``).

    query: (batch, heads, own, dim); key, value: (batch, kv heads, own, dim);
    the prefix's key and value: (1, kv heads, prefix, dim).
    """
    import torch

    prefix_kv: Sequence[tuple[Any, Any]] = kwargs[KWARG]
    calls: Calls | None = kwargs.get("shared_prefix_calls")
    if calls is not None:
        calls.layers.add(int(module.layer_idx))
    prefix_key, prefix_value = prefix_kv[module.layer_idx]
    groups = query.shape[1] // key.shape[1]
    if groups > 1:  # grouped-query attention: each kv head serves several query heads
        key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
        prefix_key = prefix_key.repeat_interleave(groups, 1)
        prefix_value = prefix_value.repeat_interleave(groups, 1)
    batch, heads, own, dim = query.shape
    prefix = prefix_key.shape[2]
    folded = query.transpose(0, 1).reshape(heads, batch * own, dim)
    to_prefix = torch.matmul(folded, prefix_key[0].transpose(1, 2))
    to_prefix = to_prefix.reshape(heads, batch, own, prefix).transpose(0, 1) * scaling
    to_own = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        to_own = to_own + attention_mask[:, :, :, : key.shape[-2]]
    weights = torch.softmax(torch.cat([to_prefix, to_own], -1), -1, dtype=torch.float32)
    weights = weights.to(query.dtype)
    if dropout and module.training:
        weights = torch.nn.functional.dropout(weights, p=dropout)
    on_prefix = weights[..., :prefix].transpose(0, 1).reshape(heads, batch * own, prefix)
    from_prefix = torch.matmul(on_prefix, prefix_value[0])
    from_prefix = from_prefix.reshape(heads, batch, own, dim).transpose(0, 1)
    out = from_prefix + torch.matmul(weights[..., prefix:], value)
    return out.transpose(1, 2).contiguous(), None


@contextmanager
def switched_on(model: Any) -> Iterator[None]:
    """``model`` (a peft wrapper or a transformers model) attends with
    ``NAME`` inside the block, and as before after it."""
    register()
    config = base_of(model).config
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before


def base_of(model: Any) -> Any:
    """The transformers model, under a peft wrapper or not."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def layers_of(model: Any) -> int:
    return int(base_of(model).config.num_hidden_layers)
