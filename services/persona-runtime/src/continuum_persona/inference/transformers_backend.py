"""Local inference with transformers (the built-in model or any Hugging Face
model directory), with the persona's genome made live before each
generation (continuum_persona.genome: hot adapters in this model, warm
tensors shared by the node's backends).

``generate`` runs in a worker thread and hands text to the event loop
through a TextIteratorStreamer; a StoppingCriteria watches a threading.Event
so a cancel stops the model within one token. One model serves every
persona of the runtime, one generation at a time (a lock): on a CPU,
interleaving two generations only makes both slower.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from continuum_lm.base_model import base_model_id, describe_base
from continuum_lm.generation import BackendError, GenerationRequest
from continuum_lm.prompt import render_prompt
from continuum_lm.resolve import EMPTY, Genome
from continuum_persona.genome.hot import HotAdapters
from continuum_persona.genome.warm import WarmLayers

log = logging.getLogger("continuum.persona.transformers")


class _Cancelled:
    """A transformers StoppingCriteria (duck-typed: it is called per step)."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        return torch.full((input_ids.shape[0],), self.flag.is_set(), dtype=torch.bool)


class _StopAt:
    """Stop when the generated text starts a new speaker's line."""

    def __init__(self, tokenizer: Any, prompt_len: int, stops: list[str]) -> None:
        self.tokenizer, self.prompt_len, self.stops = tokenizer, prompt_len, stops

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        import torch

        tail = self.tokenizer.decode(
            input_ids[0, self.prompt_len :][-24:], skip_special_tokens=True
        )
        done = any(stop in tail for stop in self.stops)
        return torch.full((input_ids.shape[0],), done, dtype=torch.bool)


class TransformersBackend:
    def __init__(
        self,
        model_dir: Path,
        name: str = "transformers",
        threads: int = 0,
        hot_budget_bytes: int = 256 * 1024 * 1024,
        pinned: Callable[[str], bool] = lambda _: False,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if not (model_dir / "config.json").exists():
            raise BackendError(
                f"{model_dir} is not a Hugging Face model directory (no config.json)"
            )
        if threads:
            torch.set_num_threads(threads)
        self.name = name
        self.model_dir = model_dir
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        # A byte-level tokenizer's count is the UTF-8 length: no need to run
        # its (pure Python) tokenizer for every history message of every bid.
        self._byte_level = type(self.tokenizer).__name__ == "ByT5Tokenizer"
        # safetensors only: never unpickle weights.
        self.base = AutoModelForCausalLM.from_pretrained(str(model_dir), use_safetensors=True)
        self.base.eval()  # type: ignore[no-untyped-call]
        #: What the registry checks layers against (described before any adapter is injected).
        self.base_description = describe_base(self.base, model_dir, base_model_id(name, model_dir))
        #: The hot tier; the warm tier (shared by the node's backends) is set by the pool.
        self.hot = HotAdapters(self.base, hot_budget_bytes, pinned)
        self.layers: WarmLayers | None = None
        self._lock = asyncio.Lock()
        self.calls = 0

    @property
    def context_tokens(self) -> int:
        return int(getattr(self.base.config, "max_position_embeddings", 2048))

    def count_tokens(self, text: str) -> int:
        if self._byte_level:
            return len(text.encode("utf-8"))
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    async def _activate(self, genome: Genome | None, stats: dict[str, float]) -> None:
        """Make the genome live (called under the lock): a hot hit is a pointer
        switch; a miss loads layers from the warm tier (fetching cold ones)."""
        genome = genome if genome is not None else EMPTY
        for layer in genome.layers:
            published = layer.published
            if (
                published.manifest.base_model != self.base_description.base_model
                or published.base_fingerprint != self.base_description.fingerprint
            ):
                raise BackendError(
                    f"layer {layer.ref} was made for base model {published.manifest.base_model} "
                    f"({published.base_fingerprint}); this backend serves "
                    f"{self.base_description.base_model} ({self.base_description.fingerprint})"
                )
        started = time.perf_counter()
        if self.hot.ready(genome):
            self.hot.activate(genome, {})
        else:
            if self.layers is None:
                raise BackendError("this backend has no layer cache")
            weights = {x.sha256: await self.layers.get(x) for x in genome.layers}
            if self.hot.quick(genome, weights):
                self.hot.activate(genome, weights)  # a slot rebind: sub-millisecond
            else:
                await asyncio.to_thread(self.hot.activate, genome, weights)
        stats["genome_applied"] = 1.0
        if genome.layers:
            stats["genome_load_ms"] = (time.perf_counter() - started) * 1000

    async def _prepare(self, request: GenerationRequest) -> str:
        """Count the call, make the request's genome live, render its prompt
        (called under the lock, by every use of the model)."""
        self.calls += 1
        try:
            await self._activate(request.genome, request.stats)
        except BackendError:
            raise
        except Exception as exc:
            raise BackendError(f"cannot apply the genome: {exc}") from None
        return render_prompt(self.tokenizer, request)

    async def stream(self, request: GenerationRequest, cancel: asyncio.Event) -> AsyncIterator[str]:
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        async with self._lock:
            prompt = await self._prepare(request)
            inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
            prompt_len = int(inputs["input_ids"].shape[1])
            if prompt_len >= self.context_tokens:
                raise BackendError(
                    f"the prompt has {prompt_len} tokens; the model's context is "
                    f"{self.context_tokens}"
                )
            budget = max(1, min(request.max_tokens, self.context_tokens - prompt_len))
            streamer = TextIteratorStreamer(
                self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=60
            )
            stop_flag = threading.Event()
            criteria = StoppingCriteriaList([_Cancelled(stop_flag)])
            if self.tokenizer.chat_template is None:
                criteria.append(_StopAt(self.tokenizer, prompt_len, ["\n\n", "\nUser:"]))
            failure: list[BaseException] = []

            def work() -> None:
                try:
                    self.base.generate(
                        **inputs,
                        max_new_tokens=budget,
                        do_sample=request.temperature > 0,
                        temperature=max(request.temperature, 1e-3),
                        top_k=50,
                        streamer=streamer,
                        stopping_criteria=criteria,
                        pad_token_id=self.tokenizer.pad_token_id,
                    )
                except BaseException as exc:  # handed to the event loop below
                    failure.append(exc)
                    streamer.end()  # type: ignore[no-untyped-call]

            thread = threading.Thread(target=work, name="generate", daemon=True)
            thread.start()
            loop = asyncio.get_running_loop()
            watcher = loop.create_task(cancel.wait())
            watcher.add_done_callback(lambda _: stop_flag.set())
            try:
                iterator = iter(streamer)
                while True:
                    piece = await asyncio.to_thread(next, iterator, None)
                    if piece is None:
                        break
                    if piece:
                        yield piece
            finally:
                stop_flag.set()
                watcher.cancel()
                await asyncio.to_thread(thread.join)
            if failure:
                raise BackendError(f"generation failed: {failure[0]}")

    async def choose(self, request: GenerationRequest, options: list[str]) -> list[float]:
        """The log-likelihood of each option as the reply to ``request``, with the
        request's genome active (``continuum_lm.choice``)."""
        from continuum_lm.choice import option_logprobs

        async with self._lock:
            prompt = await self._prepare(request)
            longest = max((self.count_tokens(o) for o in options), default=0)
            if self.count_tokens(prompt) + longest + 4 >= self.context_tokens:
                raise BackendError(
                    f"the prompt and its options do not fit the model's context "
                    f"({self.context_tokens} tokens)"
                )
            return await asyncio.to_thread(
                option_logprobs, self.base, self.tokenizer, prompt, options
            )

    async def close(self) -> None:
        return None
