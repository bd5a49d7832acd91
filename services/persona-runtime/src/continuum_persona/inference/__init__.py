"""Inference backends behind one interface: stream tokens, stop when told."""

from continuum_lm.generation import (
    BackendError,
    ChatMessage,
    GenerationRequest,
    InferenceBackend,
)

__all__ = ["BackendError", "ChatMessage", "GenerationRequest", "InferenceBackend"]
