"""The built-in model: built here, loaded as a Hugging Face directory,
streamed and cancelled (genomes: test_genome_cache.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from continuum_lm.builtin import MARKER
from continuum_lm.generation import BackendError, ChatMessage, GenerationRequest
from continuum_persona.inference.transformers_backend import TransformersBackend


def request(**kw: object) -> GenerationRequest:
    defaults: dict[str, object] = {
        "messages": [ChatMessage("system", "You are Debugger AI."), ChatMessage("user", "Ada: hi")],
        "max_tokens": 24,
        "temperature": 0.0,
        "speaker": "Debugger AI",
    }
    defaults.update(kw)
    return GenerationRequest(**defaults)  # type: ignore[arg-type]


async def generate(backend: TransformersBackend, req: GenerationRequest) -> str:
    return "".join([p async for p in backend.stream(req, asyncio.Event())])


def test_the_built_in_model_is_a_plain_safetensors_model_directory(tiny_model_dir: Path) -> None:
    files = {p.name for p in tiny_model_dir.iterdir()}
    assert {"config.json", "model.safetensors", MARKER} <= files
    assert not [f for f in files if f.endswith((".bin", ".pt", ".pkl"))]
    meta = json.loads((tiny_model_dir / MARKER).read_text())
    assert meta["preset"] == "tiny" and meta["steps"] == 30 and meta["final_loss"] < 6.0
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and config["vocab_size"] == 384


async def test_streams_text_and_honours_the_token_budget(tiny_model_dir: Path) -> None:
    backend = TransformersBackend(tiny_model_dir, "builtin")
    pieces = [p async for p in backend.stream(request(max_tokens=24), asyncio.Event())]
    text = "".join(pieces)
    assert pieces and text
    assert backend.count_tokens(text) <= 24
    assert backend.calls == 1


async def test_cancel_stops_generation_within_a_token(tiny_model_dir: Path) -> None:
    backend = TransformersBackend(tiny_model_dir, "builtin")
    cancel = asyncio.Event()
    got = []
    async for piece in backend.stream(request(max_tokens=400, temperature=1.0), cancel):
        got.append(piece)
        if len(got) == 2:
            cancel.set()
    assert 2 <= len(got) <= 4


async def test_a_prompt_longer_than_the_context_does_not_crash(tiny_model_dir: Path) -> None:
    backend = TransformersBackend(tiny_model_dir, "builtin")
    long = request(messages=[ChatMessage("user", "x" * 600)], max_tokens=8)
    with pytest.raises(BackendError, match="context is 512"):
        await generate(backend, long)  # the RAG builder trims first; the backend refuses cleanly


async def test_a_missing_model_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="not a Hugging Face model directory"):
        TransformersBackend(tmp_path, "transformers")
