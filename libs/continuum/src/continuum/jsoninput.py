"""The one input policy for JSON from outside: bounded nesting, valid Unicode,
no NUL in strings.

Every JSON body, event and message from outside the node goes through here,
so the same input is refused the same way whichever door it came in by:

* nesting deeper than ``MAX_DEPTH`` levels (Python's parser would recurse
  until ``RecursionError``, and so would every walker after it);
* a lone UTF-16 surrogate (``"\\ud800"``): not a Unicode character, so it
  cannot be encoded as UTF-8, signed or stored;
* NUL (``"\\u0000"``) in a string: PostgreSQL text cannot hold it, so an
  event carrying one could be appended but never projected.

A small body costs two ``bytes.count`` calls and one regex search over the
raw text; one with more brackets than the depth limit also has its nesting
measured in the regex engine. Only input that might hold a NUL or a
surrogate is walked after parsing.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 64

# What could break a rule: an escaped surrogate or NUL, or (in already-decoded
# text) a raw surrogate or NUL. Raw NUL bytes are refused by json itself.
_SUSPECT_BYTES = re.compile(rb"\\u(?:[dD][89abcdefABCDEF]|0000)")
_SUSPECT_TEXT = re.compile(r"\\u(?:[dD][89abcdefABCDEF]|0000)|[\ud800-\udfff\x00]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class UnsafeJson(ValueError):
    """The input breaks the policy; the message names the rule and where."""


def loads(raw: bytes | str, *, max_depth: int = MAX_DEPTH, what: str = "the body") -> Any:
    """``json.loads`` under the input policy; every failure is an ``UnsafeJson``."""
    _check_depth(raw, max_depth, what)
    try:
        value = json.loads(raw)
    except RecursionError:  # a backstop: _check_depth refuses these first
        raise UnsafeJson(f"{what} is nested deeper than {max_depth} levels") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UnsafeJson(f"{what} is not valid JSON ({exc})") from None
    if _suspect(raw):
        check(value, max_depth=max_depth, what=what)
    return value


def check_body(raw: bytes, *, max_depth: int = MAX_DEPTH, what: str = "the body") -> None:
    """Raise ``UnsafeJson`` if ``raw`` (JSON text) breaks the policy. Brackets
    that do not balance are refused here; any other syntax error is left for
    the body's reader to name."""
    _check_depth(raw, max_depth, what)
    if not _suspect(raw):
        return
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return
    check(value, max_depth=max_depth, what=what)


def check(value: Any, *, max_depth: int = MAX_DEPTH, what: str = "the body") -> None:
    """Walk a decoded JSON value (iteratively) and raise ``UnsafeJson`` naming
    the first place that breaks the policy."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            check_text(item, _at(what, path))
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise UnsafeJson(f"{_at(what, path)} is nested deeper than {max_depth} levels")
            entries = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in entries:
                if isinstance(key, str):
                    check_text(key, f"a key in {_at(what, path)}")
                    where = f"{path}.{key}" if _SIMPLE_KEY.match(key) else f"{path}[{key!r}]"
                else:
                    where = f"{path}[{key}]"
                stack.append((child, where, depth + 1))


def check_text(text: str, where: str) -> None:
    """Raise ``UnsafeJson`` if ``text`` holds a NUL or a lone surrogate."""
    if "\x00" in text:
        raise UnsafeJson(f"{where} holds a NUL character (\\u0000), which text cannot store")
    found = _SURROGATE.search(text)
    if found:
        code = f"\\u{ord(found.group()):04x}"
        raise UnsafeJson(
            f"{where} holds a lone surrogate ({code}): JSON text must be valid Unicode"
        )


def _at(what: str, path: str) -> str:
    return f"{what} at {path.lstrip('.')}" if path else what


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")


def _suspect(raw: bytes | str) -> bool:
    if isinstance(raw, str):
        return _SUSPECT_TEXT.search(raw) is not None
    return _SUSPECT_BYTES.search(raw) is not None


# A JSON string, written as an unrolled loop (much faster than an alternation).
_STRINGS_BYTES = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_INNERMOST_BYTES = re.compile(rb"\[\]|\{\}")


def _check_depth(raw: bytes | str, max_depth: int, what: str) -> None:
    """Refuse deep nesting before parsing, so a document nested 100,000 deep
    never reaches the recursive parser. Everything runs in the regex engine:
    drop the strings, keep the brackets, then peel innermost pairs off once
    per level; brackets left after ``max_depth`` peels are nested too deep."""
    data = raw.encode("utf-8", errors="surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    brackets = _STRINGS_BYTES.sub(b"", data).translate(None, _NOT_BRACKETS)
    for _ in range(max_depth):
        peeled = _INNERMOST_BYTES.sub(b"", brackets)
        if not peeled:
            return
        if peeled == brackets:  # no pair left to peel: the brackets do not balance
            raise UnsafeJson(f"{what} is not valid JSON (its brackets do not balance)")
        brackets = peeled
    raise UnsafeJson(f"{what} is nested deeper than {max_depth} levels")
