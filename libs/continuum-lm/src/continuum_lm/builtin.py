"""The built-in model: a small Llama-style causal LM, built and pre-trained here.

There is no internet, so no weights can be downloaded. ``build`` creates
the model from a config with random weights, pre-trains it for a few CPU
minutes and saves it as an ordinary Hugging Face model directory
(safetensors). It is small: it learns the shape of English and of the
transcripts, not facts; see the README.

Pre-training mixes two sources, row by row in each batch: prose shipped
with the project (persona dialogues, plus Python's own reference
documentation from ``pydoc_data``) and, for the small preset, procedural
symbolic episodes (``continuum_lm.symbolic``: copying, mapping, counting,
looking up, each a task drawn fresh). The episodes are what makes the model
teachable: a layer trained on a new skill builds on an alignment and lookup
machinery it already has instead of memorising its examples (ADR 0021
has the measurements).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from continuum_lm.symbolic import episodes

CORPUS_DIR = Path(__file__).parent / "corpus"
MARKER = "continuum-model.json"


@dataclass(frozen=True)
class Preset:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    context: int
    steps: int
    batch: int
    seq: int
    lr: float
    #: Share of each batch's rows drawn from symbolic episodes (``symbolic``), not prose.
    symbolic: float = 0.0
    #: Episodes also copy numbers and made-up words (``symbolic``'s ``open_values``).
    open_values: bool = False


PRESETS: dict[str, Preset] = {
    # ~3.3M parameters; ~0.26 s per step on 2 cores: about four minutes. 70% of the
    # rows are symbolic episodes (ADR 0021: a new cipher skill 4% -> 71.5% held-out at
    # equal LoRA steps against prose alone), with open values (numbers and made-up
    # words copied out of sentences). 900 steps, not 300: at 300 the build's seed
    # decided which primitives a base had; at 900 a layer learned every probe skill
    # (ADR 0021, docs/benchmarks.md "Which base model learns fastest").
    "small": Preset(
        256, 4, 4, 704, 1024, steps=900, batch=8, seq=256, lr=2e-3, symbolic=0.7, open_values=True
    ),
    # For tests and CI: seconds.
    "tiny": Preset(32, 2, 2, 64, 512, steps=30, batch=4, seq=64, lr=3e-3),
}

Progress = Callable[[int, int, float], None]


def corpus_text(max_chars: int = 600_000) -> str:
    """Dialogues (repeated, so the transcript shape is learnt) plus Python's docs."""
    dialogues = "\n".join(p.read_text() for p in sorted(CORPUS_DIR.glob("*.txt")))
    try:
        from pydoc_data.topics import topics

        reference = "\n\n".join(topics[k] for k in sorted(topics))
    except ImportError:  # some distributions strip pydoc_data
        reference = ""
    text = (dialogues + "\n\n") * 8 + reference
    return text[:max_chars]


def is_built(path: Path) -> bool:
    return (path / "config.json").exists() and (path / MARKER).exists()


def is_current(path: Path, preset_name: str) -> bool:
    """Whether the model at ``path`` was built with ``preset_name``'s present
    settings. A model built by an earlier release is kept, not rebuilt behind
    the user's back: layers trained on it belong to it."""
    try:
        meta = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return False
    preset = PRESETS.get(preset_name)
    return preset is not None and meta.get("config") == asdict(preset)


def build(
    path: Path,
    preset_name: str = "small",
    *,
    steps: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    preset: Preset | None = None,
) -> dict[str, object]:
    """Create, pre-train and save the built-in model at ``path``; returns its metadata."""
    import torch
    from transformers import ByT5Tokenizer, LlamaConfig, LlamaForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # ours is shown

    if preset is None:
        if preset_name not in PRESETS:
            raise ValueError(f"unknown preset {preset_name!r}; presets: {', '.join(PRESETS)}")
        preset = PRESETS[preset_name]
    steps = preset.steps if steps is None else steps
    torch.manual_seed(seed)
    rng = random.Random(seed)
    tokenizer = ByT5Tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=preset.hidden,
        intermediate_size=preset.intermediate,
        num_hidden_layers=preset.layers,
        num_attention_heads=preset.heads,
        num_key_value_heads=preset.heads,
        max_position_embeddings=preset.context,
        bos_token_id=None,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    model = LlamaForCausalLM(config)
    data = torch.tensor(
        tokenizer(corpus_text(), add_special_tokens=False)["input_ids"], dtype=torch.long
    )
    symbolic_rows = round(steps * preset.batch * preset.symbolic)
    # A preset without episodes draws none, so a change to them leaves it as
    # it was (the tiny preset the tests use: its weights do not depend on them).
    chars = symbolic_rows * preset.seq + preset.seq * 2
    text = episodes(rng, chars, preset.open_values) if symbolic_rows else ""
    tasks = torch.tensor(
        tokenizer(text, add_special_tokens=False)["input_ids"] or [0] * (preset.seq + 2),
        dtype=torch.long,
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=preset.lr, weight_decay=0.01)
    warmup = max(1, steps // 10)

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    model.train()
    started = time.monotonic()
    loss_value = float("nan")
    for step in range(steps):
        rows = []
        for _ in range(preset.batch):
            source = tasks if rng.random() < preset.symbolic else data
            start = rng.randrange(0, len(source) - preset.seq - 1)
            rows.append(source[start : start + preset.seq])
        batch = torch.stack(rows)
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.item())
        if progress is not None:
            progress(step + 1, steps, loss_value)
    model.eval()  # type: ignore[no-untyped-call]
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(path), safe_serialization=True)
    tokenizer.save_pretrained(str(path))
    meta: dict[str, object] = {
        "name": "continuum-builtin",
        "preset": preset_name,
        "config": asdict(preset),
        "steps": steps,
        "final_loss": round(loss_value, 4),
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(time.monotonic() - started, 1),
        "corpus_bytes": len(data),
    }
    (path / MARKER).write_text(json.dumps(meta, indent=2))
    return meta
