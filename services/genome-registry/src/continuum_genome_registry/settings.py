"""genome-registry settings: ``CONTINUUM_GENOME_*``, and ``CONTINUUM_QDRANT_URL``."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GenomeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTINUUM_GENOME_", extra="ignore")

    #: A Qdrant server (compose, Helm); empty = qdrant-client local mode under the node home.
    qdrant_url: str = Field(
        default="",
        validation_alias=AliasChoices("CONTINUUM_QDRANT_URL", "CONTINUUM_GENOME_QDRANT_URL"),
    )
    qdrant_api_key: SecretStr = Field(
        default=SecretStr(""),
        validation_alias=AliasChoices(
            "CONTINUUM_QDRANT_API_KEY", "CONTINUUM_GENOME_QDRANT_API_KEY"
        ),
    )
    collection: str = Field(default="genome_layers", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    #: Largest accepted adapter_model.safetensors.
    max_layer_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    max_tensors: int = Field(default=4096, ge=2)
    #: Cosine of weight signatures from which two layers are flagged as near-duplicates.
    near_duplicate_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
