"""Numbers that outside input fills.

pydantic's lax mode reads the JSON booleans ``true``/``false`` as 1/0 (and
numeric strings as numbers) for an ``int`` or ``float`` field, so
``{"aging": false}`` would pass where a number is required. ``NUMBER``
refuses booleans and text, and keeps what JSON Schema calls a number: an
integer where a float is asked for, and ``288.0`` where an integer is.

Put it after the field's constraints, so they still reach the JSON schema:
``Annotated[int, Field(ge=0, le=255), NUMBER]``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BeforeValidator


def _a_number(value: Any) -> Any:
    if isinstance(value, bool | str | bytes):
        raise ValueError("must be a number (not a boolean or text)")
    return value


NUMBER = BeforeValidator(_a_number)
