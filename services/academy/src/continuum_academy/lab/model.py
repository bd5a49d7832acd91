"""The base model in the academy's process: batched greedy answers under a LoRA.

One base model is loaded once. Answering under a LoRA wraps it with peft,
loads the weights, generates a whole batch greedily, and unwraps it again,
so the base is never changed by an evaluation.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from continuum_academy.lab.weights import LoraWeights

DEFAULT_TARGETS = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
    "lm_head",
)


#: The adapter name of a frozen stack beneath the layer being trained.
UNDER = "under"


class Lab:
    def __init__(self, model_dir: Path, threads: int | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.model_dir = model_dir
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(model_dir))
        self.model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True)
        self.model.eval()  # type: ignore[no-untyped-call]
        self.eos = self.tokenizer.eos_token_id
        self.pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        newline = self.encode("\n")
        self.stop_ids = [self.eos, *newline[-1:]]  # an answer ends with its line
        self.lock = threading.Lock()  # one user of the model at a time
        linear = {
            name.rsplit(".", 1)[-1]
            for name, module in self.model.named_modules()
            if isinstance(module, torch.nn.Linear)
        }
        self.targets = [t for t in DEFAULT_TARGETS if t in linear] or sorted(linear)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def wrap(
        self,
        weights: LoraWeights | None,
        *,
        trainable: bool = False,
        rank: int = 16,
        alpha: float = 32.0,
        targets: Sequence[str] | None = None,
        under: LoraWeights | None = None,
    ) -> Any:
        """The base model under a fresh LoRA (``weights`` loaded when given).

        ``under`` is a frozen layer beneath it, both active: the new layer
        learns on top of a stack it does not change, so the stack stays a
        gene its descendants share (and a crossover can recognise).
        """
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(
            r=weights.rank if weights else rank,
            lora_alpha=round(weights.alpha if weights else alpha),
            target_modules=list(weights.target_modules if weights else (targets or self.targets)),
            lora_dropout=0.0,
            inference_mode=not trainable,
        )
        if under is None:
            peft_model = get_peft_model(self.model, config)
        else:
            frozen = LoraConfig(
                r=under.rank,
                lora_alpha=round(under.alpha),
                target_modules=list(under.target_modules),
                lora_dropout=0.0,
                inference_mode=True,
            )
            peft_model = get_peft_model(self.model, frozen, adapter_name=UNDER)
            self._load(peft_model, under, UNDER)
            peft_model.add_adapter("default", config)
            tuner: Any = peft_model.base_model  # both adapters active, summed
            tuner.set_adapter([UNDER, "default"], inference_mode=not trainable)
            for name, param in peft_model.named_parameters():
                if f".{UNDER}." in name:
                    param.requires_grad_(False)
        if weights is not None:
            self._load(peft_model, weights, "default")
        return peft_model

    @staticmethod
    def _load(peft_model: Any, weights: LoraWeights, adapter: str) -> None:
        from peft import set_peft_model_state_dict

        result = set_peft_model_state_dict(peft_model, weights.tensors, adapter_name=adapter)
        unexpected = getattr(result, "unexpected_keys", [])
        if unexpected:
            peft_model.unload()
            raise ValueError(f"the layer does not fit this model: {unexpected[:3]}")

    def unwrap(self, peft_model: Any) -> None:
        self.model = peft_model.unload()
        self.model.eval()

    @contextmanager
    def using(self, weights: LoraWeights | None) -> Iterator[Any]:
        """The base model under ``weights`` (the bare base model for None),
        with the lock held for the block and the layer taken off after it."""
        with self.lock:
            model = self.wrap(weights) if weights is not None else self.model
            try:
                yield model
            finally:
                if weights is not None:
                    self.unwrap(model)

    def answers(
        self,
        weights: LoraWeights | None,
        prompts: Sequence[str],
        max_new_tokens: int = 16,
        batch: int = 64,
    ) -> list[str]:
        """Greedy answers, the first line of each."""
        with self.using(weights) as model:
            return self.greedy(model, prompts, max_new_tokens, batch)

    def greedy(
        self, model: Any, prompts: Sequence[str], max_new_tokens: int = 16, batch: int = 64
    ) -> list[str]:
        """``model``'s greedy answers (the first line of each), in eval mode and
        left as it was found: the caller holds the lock and owns the model."""
        import torch

        training = model.training
        model.eval()
        try:
            out: list[str] = []
            for start in range(0, len(prompts), batch):
                chunk = [self.encode(p) for p in prompts[start : start + batch]]
                width = max(map(len, chunk))
                ids = torch.tensor([[self.pad] * (width - len(c)) + c for c in chunk])
                mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk])
                with torch.no_grad():
                    generated = model.generate(
                        input_ids=ids,
                        attention_mask=mask,
                        max_new_tokens=max_new_tokens,
                        do_sample=False,
                        pad_token_id=self.pad,
                        eos_token_id=self.stop_ids,
                    )
                for row in generated[:, width:]:
                    text = self.tokenizer.decode(row, skip_special_tokens=True)
                    out.append(text.strip().split("\n", 1)[0].strip())
            return out
        finally:
            model.train(training)
