"""Where the node's model is: the one both persona-runtime (inference) and the
academy (training and evaluating layers) must load, so both read the same
``CONTINUUM_PERSONA_MODEL_*`` variables."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class ModelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTINUUM_PERSONA_", extra="ignore")

    #: A Hugging Face model directory; empty = the built-in model under the node home.
    model_path: str = ""
    #: Preset used when the built-in model has to be built (small, tiny).
    model_preset: str = "small"

    def builtin_model_dir(self, home: Path) -> Path:
        return Path(self.model_path) if self.model_path else home / "models" / "builtin"
