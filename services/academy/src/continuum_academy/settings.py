"""academy settings: ``CONTINUUM_ACADEMY_*``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AcademySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONTINUUM_ACADEMY_", extra="ignore")

    #: A directory of YAML skill files (empty: <home>/academy/skills).
    skills_dir: str = ""
    #: Where training checkpoints and evolution populations live (empty: <home>/academy).
    work_dir: str = ""
    #: Torch threads for the lab (0: torch's default).
    threads: int = Field(default=0, ge=0, le=256)
    max_exercises: int = Field(default=500, ge=1, le=1000)
    #: Code attempts: CPU seconds, wall seconds and address space per run.
    sandbox_cpu_seconds: int = Field(default=2, ge=1, le=60)
    sandbox_wall_seconds: float = Field(default=5.0, gt=0, le=120)
    sandbox_memory_mb: int = Field(default=512, ge=64, le=16384)
    #: Kernel namespaces for code attempts: "auto" (where the host allows them),
    #: "namespaces" (required: no code runs without them) or "hook" (never).
    sandbox_isolation: Literal["auto", "namespaces", "hook"] = "auto"
    #: A workspace's tests, run on a proposed change: CPU seconds, wall seconds,
    #: address space and the largest file they may write.
    code_tests_cpu_seconds: int = Field(default=300, ge=1, le=7200)
    code_tests_wall_seconds: float = Field(default=300.0, gt=0, le=7200)
    code_tests_memory_mb: int = Field(default=2048, ge=128, le=65536)
    #: Decoded genome layers the academy keeps in memory, in MiB (least used go first).
    layer_cache_mb: int = Field(default=512, ge=1, le=1_048_576)
    #: Seconds a persona may take to answer one exercise.
    attempt_timeout: float = Field(default=120.0, gt=0, le=3600)
