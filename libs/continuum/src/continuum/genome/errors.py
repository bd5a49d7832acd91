"""One error type for everything wrong with a layer, its manifest or its weights."""

from __future__ import annotations


class LayerError(ValueError):
    """A layer was refused; the message names the problem (shown to users as is)."""


class LayerNotFound(LayerError):
    """No such layer, or no such version of it."""

    status = 404
