"""Training a real LoRA layer on a local model: for demos, tests and (later)
the academy. A few seconds on a CPU for the built-in model.

The default targets include ``lm_head``: the built-in model is so small that
its final norm keeps the logits nearly flat, and a layer on the attention
projections alone cannot move the loss much below uniform (measured: 5.2
nats against 0.1 with the head targeted).

The adapter is saved the way peft saves it (``adapter_config.json`` +
``adapter_model.safetensors``), next to a manifest draft
(``continuum-layer.json``) that ``continuum genome publish`` completes,
signs and uploads.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

MANIFEST_DRAFT = "continuum-layer.json"
Progress = Callable[[int, int, float], None]


def train_layer(
    model_dir: Path,
    texts: Sequence[str],
    out: Path,
    *,
    name: str,
    description: str,
    domains: Sequence[str] = (),
    base_model: str = "builtin",
    rank: int = 16,
    alpha: int = 32,
    steps: int = 60,
    lr: float = 3e-3,
    target_modules: Sequence[str] = ("q_proj", "k_proj", "v_proj", "o_proj", "lm_head"),
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if not texts:
        raise ValueError("training needs at least one text")
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True)
    peft_model = get_peft_model(
        model,
        LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(target_modules), lora_dropout=0.0),
    )
    context = int(getattr(model.config, "max_position_embeddings", 512))
    batch = tokenizer(
        list(texts),
        return_tensors="pt",
        padding=True,
        truncation=True,
        max_length=min(256, context),
        add_special_tokens=False,
    )
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    optimizer = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=lr)
    peft_model.train()
    started, loss_value = time.perf_counter(), float("nan")
    for step in range(1, steps + 1):
        loss = peft_model(**batch, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        loss_value = loss.item()
        if progress is not None:
            progress(step, steps, loss_value)
    out.mkdir(parents=True, exist_ok=True)
    # Only the LoRA matrices: never the (tied) embedding, which peft would add
    # when lm_head is targeted; the registry accepts LoRA matrices only.
    peft_model.save_pretrained(str(out), safe_serialization=True, save_embedding_layers=False)
    draft = {
        "name": name,
        "version": "1.0.0",
        "description": description,
        "domains": list(domains),
        "base_model": base_model,
        "license": "unspecified",
        "parents": [],
    }
    (out / MANIFEST_DRAFT).write_text(json.dumps(draft, indent=2) + "\n")
    return {
        "steps": steps,
        "final_loss": round(loss_value, 4),
        "seconds": round(time.perf_counter() - started, 2),
        "path": str(out),
    }
