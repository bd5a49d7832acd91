"""Inference backends behind one interface: stream tokens, stop when told."""

from continuum_persona.inference.base import (
    BackendError,
    ChatMessage,
    GenerationRequest,
    InferenceBackend,
)

__all__ = ["BackendError", "ChatMessage", "GenerationRequest", "InferenceBackend"]
