"""The JSON input policy: what it refuses, how it says so, and that ordinary
JSON (deep-ish, emoji, escaped backslashes, brackets in strings) passes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from continuum import jsoninput
from continuum.jsoninput import UnsafeJson


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, ["nested deeper than 64"]),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, ["nested deeper than 64"]),
        (b"[" * 100_000, ["brackets do not balance"]),
        (b"[" * 65 + b"]" * 65, ["nested deeper than 64"]),
        (b'{"a": "\\ud800"}', ["at a", "lone surrogate", "\\ud800"]),
        (b'{"a": ["x", "\\uDC00"]}', ["at a[1]", "lone surrogate"]),
        ('{"a": "\ud800"}', ["lone surrogate"]),  # already-decoded text (argv)
        (b'{"a": {"b": "x\\u0000"}}', ["at a.b", "NUL"]),
        (b'{"\\u0000": 1}', ["a key", "NUL"]),
        (b"{not json", ["not valid JSON"]),
    ],
)
def test_refused_with_the_rule_and_the_place(raw: bytes | str, words: list[str]) -> None:
    with pytest.raises(UnsafeJson) as refused:
        jsoninput.loads(raw)
    for word in words:
        assert word in str(refused.value)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 64 + b"]" * 64,
        b'{"a": "\\ud83d\\ude00"}',  # a surrogate pair is one character
        b'{"a": "\\\\u0000"}',  # an escaped backslash, then the text u0000
        b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["}',
        json.dumps([{"data": {"a": [1, {"b": 2}]}}] * 1000).encode(),
    ],
)
def test_ordinary_json_passes(raw: bytes) -> None:
    assert jsoninput.loads(raw) == json.loads(raw)
    jsoninput.check_body(raw)


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)


@given(_json)
def test_agrees_with_a_plain_walk(value: object) -> None:
    """Whatever JSON hypothesis draws, ``loads`` accepts it exactly when a
    naive walk finds no NUL, no surrogate and no nesting past the limit."""
    raw = json.dumps(value).encode()

    def clean(item: object, depth: int) -> bool:
        if isinstance(item, str):
            return "\x00" not in item and not any(0xD800 <= ord(c) <= 0xDFFF for c in item)
        if isinstance(item, list):
            return depth < 64 and all(clean(i, depth + 1) for i in item)
        if isinstance(item, dict):
            return depth < 64 and all(clean(k, 0) and clean(v, depth + 1) for k, v in item.items())
        return True

    if clean(value, 0):
        assert jsoninput.loads(raw) == value
    else:
        with pytest.raises(UnsafeJson):
            jsoninput.loads(raw)
