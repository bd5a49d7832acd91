"""The compose stack: every service is there, built from a Dockerfile that exists,
wired with the settings names the services read."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
COMPOSE = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if p.is_dir())


def test_every_service_is_in_the_stack_with_its_dockerfile() -> None:
    for name in SERVICES:
        service = COMPOSE["services"][name]
        build = service["build"]
        dockerfile = (
            ROOT / "deploy" / "compose" / build["context"] / build["dockerfile"]
        ).resolve()
        assert dockerfile == ROOT / "services" / name / "Dockerfile"
        assert dockerfile.exists()
        assert service["depends_on"]["bootstrap"]["condition"] == "service_completed_successfully"


def test_environment_names_are_settings_names() -> None:
    from continuum.settings import Settings

    known = {f"CONTINUUM_{name.upper()}" for name in Settings.model_fields} | {
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    }
    for name, service in COMPOSE["services"].items():
        env = service.get("environment") or {}
        if name in SERVICES or name == "bootstrap":
            assert set(env) <= known, name
            assert "CONTINUUM_NATS_URL" in env


def test_dockerfiles_run_the_service_as_non_root_with_a_healthcheck() -> None:
    for name in SERVICES:
        text = (ROOT / "services" / name / "Dockerfile").read_text()
        assert "USER 10001" in text
        assert f'"continuum.runtime.healthcheck", "{name}"' in text
        package = "continuum_" + name.replace("-", "_")
        assert f'CMD ["python", "-m", "{package}"]' in text
