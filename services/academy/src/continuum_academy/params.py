"""Reading a request body's fields, with errors that name the field."""

from __future__ import annotations

from typing import Any

from continuum.runtime import RequestError


def integer(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise RequestError(f"{key} must be an integer from {low} to {high}")
    return value


def number(
    body: dict[str, Any],
    key: str,
    default: float,
    low: float,
    high: float,
    *,
    low_allowed: bool = False,
) -> float:
    value = body.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RequestError(f"{key} must be a number")
    if low_allowed and not low <= value <= high:
        raise RequestError(f"{key} must be a number from {low:g} to {high:g}")
    if not low_allowed and not low < value <= high:
        raise RequestError(f"{key} must be a number above {low:g} and at most {high:g}")
    return float(value)


def share(body: dict[str, Any], key: str, default: float) -> float:
    value = body.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 1:
        raise RequestError(f"{key} must be a number from 0 to 1")
    return float(value)


def choice(body: dict[str, Any], key: str, default: str, options: tuple[str, ...]) -> str:
    value = body.get(key, default)
    if value not in options:
        raise RequestError(f"{key} must be one of {', '.join(options)}")
    return str(value)


def text(body: dict[str, Any], key: str, default: str | None = None) -> str:
    value = body.get(key, default)
    if not isinstance(value, str) or not value:
        raise RequestError(f"{key} must be a non-empty string")
    return value
