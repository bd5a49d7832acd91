"""Events of the genome context: base models a node serves, and layers.

``evt.genome.layer.<layer id>`` is a layer's aggregate: one ``published``
event per version, carrying the signed manifest (weights are never in an
event: they are in the JetStream Object Store, named by their sha256).
Lineage is part of the aggregate: a version names its parents, a fork is a
new layer whose first version names the layer it came from.

``evt.genome.base_model.<id>`` describes a base model a persona-runtime
serves (its linear modules and their shapes), so the registry can check a
layer's tensors against it without the model's weights.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from continuum.events.catalog import catalog

LAYER_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}$"
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+){0,2}([-+][0-9A-Za-z.]{1,32})?$"
SHA256_PATTERN = r"^[0-9a-f]{64}$"
LAYER_REF_PATTERN = r"^[a-z0-9][a-z0-9-]{0,63}@[0-9A-Za-z.+-]{1,64}$"


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerManifest(_Payload):
    """What a layer is, as its creator signed it.

    ``adapter_config`` is peft's ``adapter_config.json``; ``sha256`` and
    ``size`` name the ``adapter_model.safetensors`` bytes. The signature
    covers the canonical JSON of this whole document (see
    ``continuum.genome.manifest``).
    """

    name: str = Field(pattern=LAYER_ID_PATTERN)
    version: str = Field(pattern=VERSION_PATTERN, max_length=48)
    description: str = Field(min_length=1, max_length=2000)
    domains: list[str] = Field(default_factory=list, max_length=16)
    base_model: str = Field(min_length=1, max_length=256)
    target_modules: list[str] = Field(min_length=1, max_length=64)
    rank: int = Field(ge=1, le=1024)
    parents: list[str] = Field(default_factory=list, max_length=16)
    license: str = Field(default="unspecified", min_length=1, max_length=64)
    adapter_config: dict[str, object]
    sha256: str = Field(pattern=SHA256_PATTERN)
    size: int = Field(ge=1)
    #: The creator's Ed25519 public key (base32, like a node id).
    creator: str = Field(pattern=r"^[a-z2-7]{52}$")

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


class NearDuplicate(_Payload):
    layer: str = Field(pattern=LAYER_REF_PATTERN)
    similarity: float = Field(ge=-1.0, le=1.0)


@catalog.register(context="genome", aggregate="layer", name="published")
class LayerPublished(_Payload):
    """A version of a layer passed validation; its weights are in the object store."""

    manifest: LayerManifest
    signature: str = Field(min_length=1, max_length=128)
    #: The base model's fingerprint when the layer was checked against it.
    base_fingerprint: str = Field(min_length=1, max_length=64)
    #: Largest singular values of the layer's whole update (data-free, for display).
    spectrum: list[float] = Field(default_factory=list, max_length=32)
    #: Layers whose weight updates point the same way (cosine of signatures).
    near_duplicates: list[NearDuplicate] = Field(default_factory=list, max_length=32)
    #: Set when this version is a fork: the layer@version it was forked from.
    forked_from: str | None = Field(default=None, pattern=LAYER_REF_PATTERN)


class ModuleShape(_Payload):
    name: str = Field(min_length=1, max_length=256)
    in_features: int = Field(ge=1)
    out_features: int = Field(ge=1)


@catalog.register(context="genome", aggregate="base_model", name="registered")
class BaseModelRegistered(_Payload):
    """A node serves this base model: the linear modules a LoRA layer may target."""

    base_model: str = Field(min_length=1, max_length=256)
    fingerprint: str = Field(min_length=1, max_length=64)
    architecture: str = Field(default="", max_length=128)
    modules: list[ModuleShape] = Field(max_length=4096)
