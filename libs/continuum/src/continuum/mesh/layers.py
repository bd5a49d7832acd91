"""Genome layers across the mesh: what one node may ask another's registry.

A request is sealed to the node that holds the layers and signed by the one
that asks, like a generation order; the answer comes back sealed to the
asker. Three questions: ``search`` (the registry's meaning search),
``manifest`` (a layer version's signed manifest) and ``chunk`` (a slice of
published weights, small enough for one sealed message). Nothing here is
trusted for what it claims: the asker checks the creator's signature on the
manifest and the weights' sha256 against it before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from continuum.events.genome import LAYER_ID_PATTERN, SHA256_PATTERN
from continuum.mesh.sealing import Refused

#: Raw bytes of weights per answer: sealed and base64-encoded twice it stays
#: well under the envelope limit (256 KiB).
CHUNK_BYTES = 96 * 1024


class _Ask(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchAsk(_Ask):
    op: Literal["search"] = "search"
    query: str = Field(min_length=1, max_length=2000)
    k: int = Field(default=10, ge=1, le=100)
    min_score: float = Field(default=-1.0, ge=-1.0, le=1.0)


class ManifestAsk(_Ask):
    op: Literal["manifest"] = "manifest"
    layer: str = Field(pattern=LAYER_ID_PATTERN)
    version: str = Field(default="latest", pattern=r"^[0-9A-Za-z.+-]{1,48}$")


class ChunkAsk(_Ask):
    op: Literal["chunk"] = "chunk"
    sha256: str = Field(pattern=SHA256_PATTERN)
    offset: int = Field(ge=0)
    length: int = Field(default=CHUNK_BYTES, ge=1, le=CHUNK_BYTES)


class LayerAsk(BaseModel):
    ask: Annotated[SearchAsk | ManifestAsk | ChunkAsk, Field(discriminator="op")]


def read_ask(payload: dict[str, Any]) -> SearchAsk | ManifestAsk | ChunkAsk:
    """The question in an opened envelope, or :class:`Refused` naming the problem."""
    try:
        return LayerAsk.model_validate({"ask": payload}).ask
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(p) for p in problem["loc"][1:]) or "request"
        raise Refused(f"malformed layer request: {where}: {problem['msg']}") from None
