"""Which backend serves a persona: one instance per distinct backend config."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from continuum.events.genome import BaseModelRegistered
from continuum_lm import builtin
from continuum_lm.generation import BackendError, InferenceBackend
from continuum_persona.genome.disk import DiskLayers
from continuum_persona.genome.warm import LayerSource, WarmLayers
from continuum_persona.inference.ollama import OllamaBackend, ollama_answers
from continuum_persona.inference.openai_compat import OpenAICompatibleBackend
from continuum_persona.inference.transformers_backend import TransformersBackend
from continuum_persona.personas import Persona
from continuum_persona.settings import PersonaSettings

log = logging.getLogger("continuum.persona.backends")


class BackendPool:
    def __init__(
        self,
        settings: PersonaSettings,
        home: Path,
        source: LayerSource,
        on_model: Callable[[TransformersBackend], object] = lambda _: None,
    ) -> None:
        self.settings = settings
        self.home = home
        self.ollama_up = False
        self._backends: dict[tuple[str, str, str, str], InferenceBackend] = {}
        self.pins: set[str] = set(settings.pins)
        #: The warm tier, shared by every local model of this runtime.
        disk = (
            DiskLayers(home / "genome" / "layer-cache", settings.disk_cache_bytes)
            if settings.disk_cache_bytes
            else None
        )
        self.layers = WarmLayers(source, settings.warm_cache_bytes, self.pins.__contains__, disk)
        self._on_model = on_model

    def local_models(self) -> list[TransformersBackend]:
        return [b for b in self._backends.values() if isinstance(b, TransformersBackend)]

    @property
    def builtin_dir(self) -> Path:
        return self.settings.builtin_model_dir(self.home)

    async def start(self) -> None:
        """Probe Ollama (the default backend when it answers) and load the built-in model."""
        self.ollama_up = await ollama_answers(self.settings.ollama_host)
        log.info(
            "default backend: %s",
            f"ollama at {self.settings.ollama_host}" if self.ollama_up else "the built-in model",
        )
        if not builtin.is_built(self.builtin_dir) and not self.settings.model_path:
            log.info(
                "building the built-in model (%s) in %s",
                self.settings.model_preset,
                self.builtin_dir,
            )
            builtin.build(self.builtin_dir, self.settings.model_preset)
        self.builtin()

    def builtin(self) -> InferenceBackend:
        return self._get(("builtin", "", "", str(self.builtin_dir)))

    def builtin_description(self) -> BaseModelRegistered:
        backend = self.builtin()
        assert isinstance(backend, TransformersBackend)
        return backend.base_description

    def local_for(self, persona: Persona) -> TransformersBackend | None:
        """The local model a persona runs on, if it runs on one (genomes apply there)."""
        try:
            backend = self.for_persona(persona)
        except BackendError:
            return None
        return backend if isinstance(backend, TransformersBackend) else None

    def kind_for(self, persona: Persona) -> str:
        kind = persona.backend.kind
        if kind == "auto":
            return "ollama" if self.ollama_up else "builtin"
        return kind

    async def unanswered(self, persona: Persona) -> str | None:
        """Why ``persona``'s backend will not answer, if a quick probe says so:
        said when the backend is chosen, not at the persona's first turn."""
        if self.kind_for(persona) != "ollama":
            return None
        host = str(persona.backend.url) if persona.backend.url else self.settings.ollama_host
        if await ollama_answers(host, timeout_s=2.0):
            return None
        return (
            f"Ollama does not answer at {host}: {persona.name}'s turns and generations fail "
            "until it does (backend auto uses the built-in model meanwhile)"
        )

    def for_persona(self, persona: Persona) -> InferenceBackend:
        ref = persona.backend
        kind = self.kind_for(persona)
        if kind == "builtin":
            return self.builtin()
        url = str(ref.url) if ref.url is not None else ""
        return self._get((kind, url, ref.model, ref.path))

    def _get(self, key: tuple[str, str, str, str]) -> InferenceBackend:
        backend = self._backends.get(key)
        if backend is None:
            backend = self._create(*key)
            self._backends[key] = backend
        return backend

    def _create(self, kind: str, url: str, model: str, path: str) -> InferenceBackend:
        s = self.settings
        timeout = s.backend_timeout_s
        if kind in ("builtin", "transformers"):
            if not path:
                raise BackendError("a transformers backend needs the path of a model directory")
            local = TransformersBackend(
                Path(path),
                name=kind,
                threads=s.torch_threads,
                hot_budget_bytes=s.hot_cache_bytes,
                pinned=self.pins.__contains__,
            )
            local.layers = self.layers
            self._on_model(local)
            return local
        if kind == "ollama":
            return OllamaBackend(url or s.ollama_host, model or s.ollama_model, timeout_s=timeout)
        if kind == "openai":
            if not (url or s.openai_url):
                raise BackendError(
                    "an openai backend needs a url (the persona's backend.url or "
                    "CONTINUUM_PERSONA_OPENAI_URL)"
                )
            return OpenAICompatibleBackend(
                url or s.openai_url,
                model or s.openai_model,
                s.openai_api_key.get_secret_value(),
                timeout_s=timeout,
            )
        raise BackendError(f"unknown backend kind {kind!r}")

    async def close(self) -> None:
        for backend in self._backends.values():
            await backend.close()
