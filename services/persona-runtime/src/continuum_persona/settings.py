"""persona-runtime settings: ``CONTINUUM_PERSONA_*``, and ``OLLAMA_HOST`` as Ollama's
own tools read it."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr

from continuum_lm.settings import ModelSettings


class PersonaSettings(ModelSettings):
    """The model's location (``ModelSettings``, shared with the academy) and
    everything only persona-runtime reads."""

    max_new_tokens: int = Field(default=160, ge=1, le=8192)
    temperature: float = Field(default=0.8, ge=0.0, le=2.0)
    #: Seed Helper, Teacher, CodeReview, Architect and Debugger into the lobby on first start.
    seed: bool = True
    lobby: str = "lobby"
    #: Seconds a backend may stay silent before the turn is given up.
    backend_timeout_s: float = Field(default=30.0, gt=0)
    heartbeat_s: float = Field(default=1.0, gt=0)
    torch_threads: int = Field(default=0, ge=0)
    ollama_host: str = Field(
        default="http://127.0.0.1:11434",
        validation_alias=AliasChoices("OLLAMA_HOST", "CONTINUUM_PERSONA_OLLAMA_HOST"),
    )
    ollama_model: str = "llama3.2"
    openai_url: str = ""
    openai_model: str = ""
    openai_api_key: SecretStr = SecretStr("")

    #: Genome layer cache budgets: hot = adapters in the live model, warm = CPU tensors.
    hot_cache_bytes: int = Field(default=256 * 1024 * 1024, ge=0)
    warm_cache_bytes: int = Field(default=1024 * 1024 * 1024, ge=0)
    #: Verified layer files on this node's disk (0: none; every miss fetches from the registry).
    disk_cache_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=0)
    #: Layer ids never evicted (comma-separated), loaded at start.
    pinned_layers: str = ""
    #: Prefetch the top search hits for a room's topic into the warm tier.
    prefetch_topics: bool = True

    @property
    def pins(self) -> set[str]:
        return {p.strip() for p in self.pinned_layers.split(",") if p.strip()}
