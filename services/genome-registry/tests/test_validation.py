"""Everything a publisher sends is checked before anything is stored; each
rejection names the problem."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from layer_factory import (
    BASE,
    adapter_config,
    corrupted_header,
    resigned,
    signed,
    truncated,
    weights,
)
from nacl.signing import SigningKey

from continuum.genome import LayerError
from continuum_genome_registry import validation

KEY = SigningKey.generate()
LIMITS = validation.Limits(max_layer_bytes=1 << 20)


def check(doc: dict[str, Any], signature: str, data: bytes) -> None:
    manifest = validation.validate_manifest(doc, signature)
    validation.validate_weights(manifest, data, {"builtin": BASE}, LIMITS)


def test_a_good_layer_passes() -> None:
    data = weights()
    doc, signature = signed(data, KEY)
    manifest = validation.validate_manifest(doc, signature)
    base, modules = validation.validate_weights(manifest, data, {"builtin": BASE}, LIMITS)
    assert base is BASE and len(modules) == 4


def test_a_pickle_is_refused_by_its_first_bytes() -> None:
    data = pickle.dumps({"weights": [1, 2, 3]})
    doc, signature = signed(data, KEY)
    with pytest.raises(LayerError, match="pickle"):
        check(doc, signature, data)
    zipped = b"PK\x03\x04" + b"\0" * 100  # what torch.save writes
    doc, signature = signed(zipped, KEY)
    with pytest.raises(LayerError, match="never loads pickled weights"):
        check(doc, signature, zipped)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (truncated, "truncated"),
        (corrupted_header, "not valid JSON"),
        (lambda d: d[:5], "too short"),
    ],
)
def test_damaged_safetensors_are_refused(damage: Any, message: str) -> None:
    data = damage(weights())
    doc, signature = signed(data, KEY)
    with pytest.raises(LayerError, match=message):
        check(doc, signature, data)


def test_shapes_must_fit_the_base_model() -> None:
    data = weights(hidden=64)  # trained on a wider model
    doc, signature = signed(data, KEY)
    with pytest.raises(
        LayerError, match=r"has shape \[4, 64\]; base model 'builtin' with rank 4 needs \[4, 32\]"
    ):
        check(doc, signature, data)


def test_the_rank_must_be_what_the_config_says() -> None:
    data = weights(rank=8)
    doc, _ = signed(data, KEY, config=adapter_config(8))
    lying, signature = resigned(doc, KEY, rank=4)
    with pytest.raises(LayerError, match="adapter_config r=8 but the manifest says rank 4"):
        check(lying, signature, data)


def test_an_unknown_base_model_is_refused() -> None:
    data = weights()
    doc, signature = signed(data, KEY, base_model="llama-70b")
    with pytest.raises(
        LayerError, match="unknown base model 'llama-70b'; known base models: builtin"
    ):
        check(doc, signature, data)


def test_hash_and_size_must_match_the_manifest() -> None:
    data = weights()
    doc, signature = signed(data, KEY)
    other = weights(seed=1)
    with pytest.raises(LayerError, match="hash mismatch"):
        check(doc, signature, other)
    with pytest.raises(LayerError, match="bytes; the manifest says"):
        check(doc, signature, other + b"x")


def test_forged_and_missing_signatures_are_refused() -> None:
    data = weights()
    doc, signature = signed(data, KEY)
    with pytest.raises(LayerError, match="does not verify"):
        check({**doc, "description": "changed after signing"}, signature, data)
    _, other = signed(data, SigningKey.generate())
    with pytest.raises(LayerError, match="does not verify"):
        check(doc, other, data)
    with pytest.raises(LayerError, match="not signed"):
        check(doc, "", data)


def test_oversize_weights_are_refused() -> None:
    data = weights()
    doc, signature = signed(data, KEY)
    manifest = validation.validate_manifest(doc, signature)
    with pytest.raises(LayerError, match="the limit is 100"):
        validation.validate_weights(manifest, data, {"builtin": BASE}, validation.Limits(100))


@pytest.mark.parametrize("name", ["../etc", "a/b", "..", "x\\y"])
def test_names_with_path_components_are_refused(name: str) -> None:
    with pytest.raises(LayerError, match="path components"):
        validation.parse_manifest({"name": name})


def test_only_plain_lora_is_accepted() -> None:
    data = weights()
    for extra, message in (
        ({"use_dora": True}, "DoRA"),
        ({"modules_to_save": ["lm_head"]}, "modules_to_save"),
        ({"peft_type": "IA3"}, "only LoRA"),
    ):
        doc, signature = signed(data, KEY, config={**adapter_config(), **extra})
        with pytest.raises(LayerError, match=message):
            check(doc, signature, data)


def test_tensors_must_be_lora_matrices_of_targeted_modules() -> None:
    from layer_factory import lora_tensors
    from safetensors.numpy import save

    tensors = lora_tensors()
    tensors["base_model.model.lm_head.weight"] = tensors.popitem()[1]
    data = save(tensors)
    doc, signature = signed(data, KEY)
    with pytest.raises(LayerError, match="is not a LoRA matrix"):
        check(doc, signature, data)
    data = weights()
    doc, signature = signed(data, KEY, config=adapter_config(targets=("q_proj",)))
    with pytest.raises(LayerError, match="not in target_modules"):
        check(doc, signature, data)


def test_every_targeted_module_needs_its_matrices() -> None:
    from layer_factory import lora_tensors
    from safetensors.numpy import save

    tensors = {k: v for k, v in lora_tensors().items() if ".layers.1.self_attn.v_proj." not in k}
    data = save(tensors)
    doc, signature = signed(data, KEY)
    with pytest.raises(LayerError, match=r"'model\.layers\.1\.self_attn\.v_proj' has no LoRA"):
        check(doc, signature, data)
