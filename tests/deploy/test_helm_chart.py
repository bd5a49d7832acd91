"""The Helm chart, rendered by Helm's own engine and validated against Kubernetes schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm_python.chart import Chart, lint

CHART = Path(__file__).parents[2] / "deploy" / "helm" / "continuum"
K8S_VERSION = "1.33.0"
BASE = {"postgres": {"url": "postgresql://continuum:secret@db:5432/continuum"}}
PRODUCTION = {
    "nats": {"url": "nats://nats.messaging.svc:4222"},
    "postgres": {"existingSecret": "continuum-db", "key": "url"},
    "nodeKey": {"existingSecret": "continuum-node"},
    "image": {"registry": "registry.example.com", "tag": "1.2.3"},
    "gateway": {
        "replicas": 3,
        "resources": {
            "requests": {"cpu": "500m", "memory": "512Mi"},
            "limits": {"cpu": "2", "memory": "1Gi"},
        },
    },
}
SERVICES = sorted(p.name for p in (Path(__file__).parents[2] / "services").iterdir() if p.is_dir())


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    files = Chart.load(str(CHART)).render(values, name="node1", namespace="continuum")
    docs = []
    for path, text in files.items():
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.mark.parametrize("values", [BASE, PRODUCTION], ids=["default", "production"])
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    docs = render(values)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "node1"
        assert labels["app.kubernetes.io/part-of"] == "continuum"


@pytest.mark.parametrize("values", [BASE, PRODUCTION], ids=["default", "production"])
def test_chart_lints_strictly(values: dict[str, Any]) -> None:
    result = lint(str(CHART), values, strict=True)
    # Helm's severities: 1 info, 2 warning, 4 error.
    problems = [m for m in result["messages"] if m["severity"] >= 2]
    assert not problems and not result["errors"], result


def test_every_service_runs_as_a_hardened_deployment_with_probes() -> None:
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in render(PRODUCTION)
        if d["kind"] == "Deployment"
    }
    assert sorted(deployments) == SERVICES
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        assert spec["replicas"] == 3
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["image"] == f"registry.example.com/continuum/{name}:1.2.3"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["livenessProbe"]["exec"]["command"][-1] == name
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert env["CONTINUUM_DATABASE_URL"] == {"name": "continuum-db", "key": "url"}
        assert env["CONTINUUM_NODE_KEY"]["name"] == "continuum-node"


def test_settings_use_the_same_names_as_everywhere_else() -> None:
    from continuum.settings import Settings

    config = next(d for d in render(BASE) if d["kind"] == "ConfigMap")
    known = {f"CONTINUUM_{name.upper()}" for name in Settings.model_fields} | {
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    }
    assert set(config["data"]) <= known


def test_generated_node_key_is_a_valid_seed() -> None:
    import base64

    from continuum.identity import NodeIdentity

    secret = next(d for d in render(BASE) if d["metadata"]["name"].endswith("-node-key"))
    seed = base64.b64decode(secret["data"]["node-key"]).decode()
    assert NodeIdentity.configured(Path("/nonexistent"), seed).node_id


def test_bootstrap_runs_before_services_as_a_hook() -> None:
    job = next(d for d in render(BASE) if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["continuum", "bootstrap"]


def test_missing_database_is_a_clear_error() -> None:
    with pytest.raises(Exception, match=r"set postgres\.url"):
        render({})


def test_schema_rejects_a_bad_nats_url() -> None:
    with pytest.raises(Exception, match="nats"):
        render({**BASE, "nats": {"url": "http://wrong"}})
