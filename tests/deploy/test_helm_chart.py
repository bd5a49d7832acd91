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
#: The example production values shipped next to the chart.
PRODUCTION = yaml.safe_load((CHART.parent / "examples" / "production-values.yaml").read_text())
#: A release that is a hub and joins another hub (a hub of hubs' middle tier).
MESH = {
    **BASE,
    "mesh": {"hub": True, "hubs": ["nats-leaf://top.example.org:7422"], "admit": ["a" * 52]},
}
SERVICES = sorted(p.name for p in (Path(__file__).parents[2] / "services").iterdir() if p.is_dir())


def settings_names() -> set[str]:
    """Every environment variable a Continuum service reads."""
    from continuum.mesh.settings import MeshSettings
    from continuum.settings import Settings
    from continuum_academy.settings import AcademySettings
    from continuum_gateway.settings import GatewaySettings
    from continuum_genome_registry.settings import GenomeSettings
    from continuum_marketplace.settings import MarketSettings
    from continuum_persona.settings import PersonaSettings

    return (
        {f"CONTINUUM_{name.upper()}" for name in Settings.model_fields}
        | {f"CONTINUUM_GATEWAY_{name.upper()}" for name in GatewaySettings.model_fields}
        | {f"CONTINUUM_PERSONA_{name.upper()}" for name in PersonaSettings.model_fields}
        | {f"CONTINUUM_GENOME_{name.upper()}" for name in GenomeSettings.model_fields}
        | {f"CONTINUUM_ACADEMY_{name.upper()}" for name in AcademySettings.model_fields}
        | {f"CONTINUUM_MARKET_{name.upper()}" for name in MarketSettings.model_fields}
        | {f"CONTINUUM_MESH_{name.upper()}" for name in MeshSettings.model_fields}
        | {"OLLAMA_HOST", "CONTINUUM_QDRANT_URL", "CONTINUUM_QDRANT_API_KEY"}
    )


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    files = Chart.load(str(CHART)).render(values, name="node1", namespace="continuum")
    docs = []
    for path, text in files.items():
        if path.endswith(".yaml"):
            docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


@pytest.mark.parametrize("values", [BASE, PRODUCTION, MESH], ids=["default", "production", "mesh"])
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    docs = render(values)
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "node1"
        assert labels["app.kubernetes.io/part-of"] == "continuum"


@pytest.mark.parametrize("values", [BASE, PRODUCTION, MESH], ids=["default", "production", "mesh"])
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
    values_key = {
        "persona-runtime": "personaRuntime",
        "genome-registry": "genomeRegistry",
        "academy": "academy",
        "marketplace": "marketplace",
    }
    for name, deployment in deployments.items():
        spec = deployment["spec"]
        # the gateway scales out; the arbiter and the personas' host are one per node
        assert spec["replicas"] == (3 if name == "gateway" else 1)
        pod = spec["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        container = pod["containers"][0]
        assert container["image"] == f"registry.example.com/continuum/{name}:1.2.3"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        probes = [container[p] for p in ("startupProbe", "livenessProbe", "readinessProbe")]
        assert all(("httpGet" in p) or ("exec" in p) for p in probes)
        wanted = PRODUCTION[values_key.get(name, name)]["resources"]
        assert container["resources"] == wanted
        env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in container["env"]}
        assert env["CONTINUUM_DATABASE_URL"] == {"name": "continuum-db", "key": "url"}
        assert env["CONTINUUM_NODE_KEY"]["name"] == "continuum-node"
        assert pod["initContainers"][0]["command"] == ["continuum", "bootstrap", "--check"]


def test_settings_use_the_same_names_as_everywhere_else() -> None:
    known = settings_names() | {"OTEL_EXPORTER_OTLP_ENDPOINT"}
    docs = render(PRODUCTION)
    config = next(d for d in docs if d["kind"] == "ConfigMap" and "CONTINUUM_HOME" in d["data"])
    assert set(config["data"]) <= known
    assert config["data"]["CONTINUUM_QDRANT_URL"] == "http://qdrant.vectors.svc:6333"
    for deployment in (d for d in docs if d["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert {e["name"] for e in container["env"]} <= known


def test_gateway_is_served_with_http_probes_and_an_admin_token() -> None:
    docs = render(BASE)
    service = next(
        d for d in docs if d["kind"] == "Service" and d["metadata"]["name"].endswith("-gateway")
    )
    assert service["spec"]["ports"][0] == {"name": "http", "port": 8080, "targetPort": "http"}
    gateway = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("gateway")
    )
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    env = {e["name"]: e for e in container["env"]}
    assert env["CONTINUUM_GATEWAY_HOST"]["value"] == "0.0.0.0"
    token_ref = env["CONTINUUM_GATEWAY_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]
    secret = next(d for d in docs if d["metadata"]["name"] == token_ref["name"])
    import base64

    assert base64.b64decode(secret["data"]["token"]).decode().startswith("ctm_")
    notes = Chart.load(str(CHART)).render(BASE, name="node1", namespace="continuum")
    text = next(v for k, v in notes.items() if k.endswith("NOTES.txt"))
    assert "port-forward svc/node1-continuum-gateway 8080:8080" in text


def test_nats_runs_in_the_release_as_a_jetstream_cluster() -> None:
    docs = render(PRODUCTION)
    nats = next(d for d in docs if d["kind"] == "StatefulSet")
    assert nats["spec"]["replicas"] == 3
    claim = nats["spec"]["volumeClaimTemplates"][0]["spec"]
    assert claim["resources"]["requests"]["storage"] == "50Gi"
    assert claim["storageClassName"] == "fast-ssd"
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-nats")
    )["data"]["nats.conf"]
    assert "jetstream" in config and "port: 6222" in config
    assert config.count("-nats-headless:6222") == 3  # a route to each of the 3 servers
    services = {d["metadata"]["name"] for d in docs if d["kind"] == "Service"}
    assert {"node1-continuum-nats", "node1-continuum-nats-headless"} <= services
    configmap = next(d for d in docs if d["kind"] == "ConfigMap" and "CONTINUUM_HOME" in d["data"])
    assert configmap["data"]["CONTINUUM_NATS_URL"] == "nats://node1-continuum-nats:4222"
    job = next(d for d in docs if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,post-upgrade"


def test_external_nats_instead_of_the_release_s_own() -> None:
    docs = render({**BASE, "nats": {"enabled": False, "url": "nats://nats.messaging:4222"}})
    assert not [d for d in docs if d["kind"] == "StatefulSet"]
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    assert configmap["data"]["CONTINUUM_NATS_URL"] == "nats://nats.messaging:4222"
    with pytest.raises(Exception, match=r"set nats\.url"):
        render({**BASE, "nats": {"enabled": False}})


def test_generated_node_key_is_a_valid_seed() -> None:
    import base64

    from continuum.identity import NodeIdentity

    secret = next(d for d in render(BASE) if d["metadata"]["name"].endswith("-node-key"))
    seed = base64.b64decode(secret["data"]["node-key"]).decode()
    assert NodeIdentity.configured(Path("/nonexistent"), seed).node_id


def test_bootstrap_runs_before_services_as_a_hook() -> None:
    external = {**BASE, "nats": {"enabled": False, "url": "nats://nats:4222"}}
    job = next(d for d in render(external) if d["kind"] == "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["continuum", "bootstrap"]


def test_missing_database_is_a_clear_error() -> None:
    with pytest.raises(Exception, match=r"set postgres\.url"):
        render({})


def test_schema_rejects_a_bad_nats_url() -> None:
    with pytest.raises(Exception, match="nats"):
        render({**BASE, "nats": {"enabled": False, "url": "http://wrong"}})


def test_persona_runtime_gets_its_backends_and_models() -> None:
    docs = render(
        {
            **BASE,
            "personaRuntime": {
                "ollamaHost": "http://ollama:11434",
                "openai": {"url": "http://vllm:8000/v1", "existingSecret": "oai"},
                "model": {"path": "/models/llama", "existingClaim": "models"},
            },
        }
    )
    runtime = next(
        d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("runtime")
    )
    pod = runtime["spec"]["template"]["spec"]
    assert runtime["spec"]["strategy"] == {"type": "Recreate"}
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["OLLAMA_HOST"]["value"] == "http://ollama:11434"
    assert env["CONTINUUM_PERSONA_MODEL_PATH"]["value"] == "/models/llama"
    assert env["CONTINUUM_PERSONA_OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "oai",
        "key": "api-key",
    }
    assert pod["volumes"][-1]["persistentVolumeClaim"]["claimName"] == "models"
    probe = pod["containers"][0]["startupProbe"]["exec"]["command"]
    assert probe == ["python", "-m", "continuum.runtime.healthcheck", "persona-runtime"]


def test_schema_rejects_scaling_the_arbiter() -> None:
    with pytest.raises(Exception, match="replicas"):
        render({**BASE, "scheduler": {"replicas": 2}})


def test_genome_registry_gets_its_limits_qdrant_key_and_the_cache_budgets() -> None:
    docs = render(
        {
            **BASE,
            "qdrant": {"url": "http://qdrant:6333", "existingSecret": "qdrant"},
            "genomeRegistry": {"maxLayerBytes": 1048576},
            "personaRuntime": {"cache": {"hotBytes": 1000, "pinnedLayers": ["python-async"]}},
        }
    )
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    registry = deployments["node1-continuum-genome-registry"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in registry["containers"][0]["env"]}
    assert env["CONTINUUM_GENOME_MAX_LAYER_BYTES"]["value"] == "1048576"
    assert env["CONTINUUM_QDRANT_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "qdrant"
    runtime = deployments["node1-continuum-persona-runtime"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in runtime["containers"][0]["env"]}
    assert env["CONTINUUM_PERSONA_HOT_CACHE_BYTES"]["value"] == "1000"
    assert env["CONTINUUM_PERSONA_PINNED_LAYERS"]["value"] == "python-async"


def test_schema_rejects_a_bad_pinned_layer() -> None:
    with pytest.raises(Exception, match="pinnedLayers"):
        render({**BASE, "personaRuntime": {"cache": {"pinnedLayers": ["../etc"]}}})


def test_the_academy_keeps_its_work_on_a_claim_and_trains_on_the_personas_model() -> None:
    values = {
        **PRODUCTION,
        "personaRuntime": {
            **PRODUCTION["personaRuntime"],
            "model": {"path": "/models/llama", "existingClaim": "models"},
        },
    }
    deployments = {d["metadata"]["name"]: d for d in render(values) if d["kind"] == "Deployment"}
    pod = deployments["node1-continuum-academy"]["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert env["CONTINUUM_PERSONA_MODEL_PATH"] == "/models/llama"
    assert env["CONTINUUM_ACADEMY_WORK_DIR"] == "/work"
    assert env["CONTINUUM_ACADEMY_SANDBOX_MEMORY_MB"] == "512"
    assert env["CONTINUUM_ACADEMY_SANDBOX_ISOLATION"] == "auto"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["work"]["persistentVolumeClaim"]["claimName"] == "continuum-academy-work"
    assert volumes["models"]["persistentVolumeClaim"]["claimName"] == "models"
    default = {d["metadata"]["name"]: d for d in render(BASE) if d["kind"] == "Deployment"}
    pod = default["node1-continuum-academy"]["spec"]["template"]["spec"]
    assert {v["name"]: v for v in pod["volumes"]}["work"] == {"name": "work", "emptyDir": {}}


def test_schema_rejects_an_unknown_sandbox_isolation() -> None:
    with pytest.raises(Exception, match="isolation"):
        render({**BASE, "academy": {"sandbox": {"isolation": "none"}}})


# --- NATS logins and permissions ---------------------------------------------------------


def _env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def test_each_process_logs_in_to_nats_as_itself() -> None:
    from continuum.natsauth import IDENTITIES

    docs = render(PRODUCTION)
    secret = next(d for d in docs if d["metadata"]["name"] == "node1-continuum-nats-logins")
    assert set(secret["data"]) == set(IDENTITIES)
    import base64

    from continuum.secretfile import PASSWORD_PATTERN

    for value in secret["data"].values():
        assert PASSWORD_PATTERN.match(base64.b64decode(value).decode())
    assert secret["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    assert {d["metadata"]["labels"]["app.kubernetes.io/component"] for d in deployments} == set(
        SERVICES
    )
    for deployment in deployments:
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        pod = deployment["spec"]["template"]["spec"]
        for container in [*pod["containers"], *pod["initContainers"]]:
            env = _env(container)
            assert env["CONTINUUM_NATS_USER"]["value"] == component
            ref = env["CONTINUUM_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "node1-continuum-nats-logins", "key": component}
    job = next(d for d in docs if d["kind"] == "Job")
    assert _env(job["spec"]["template"]["spec"]["containers"][0])["CONTINUUM_NATS_USER"] == {
        "name": "CONTINUUM_NATS_USER",
        "value": "node",
    }


def test_the_release_s_nats_grants_what_continuum_up_grants(tmp_path: Path) -> None:
    """The chart's nats.conf carries the generated authorization block, and a
    real nats-server accepts it with the passwords its pod gets."""
    import subprocess

    from continuum.natsauth.__main__ import HEADER
    from continuum.natsauth.config import authorization_block
    from continuum.node.embedded import nats_server_binary

    committed = (CHART / "files" / "nats-authorization.conf").read_text()
    assert committed == HEADER + authorization_block(), "run `make generate`"
    docs = render(PRODUCTION)
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-nats")
    )["data"]["nats.conf"]
    assert authorization_block().strip() in config
    nats = next(d for d in docs if d["kind"] == "StatefulSet")
    env = _env(nats["spec"]["template"]["spec"]["containers"][0])
    passwords = {n: "p0" + n.lower() for n in env if n.startswith("CONTINUUM_NATS_PASSWORD_")}
    assert len(passwords) == len(committed.split("user: ")) - 1
    conf = tmp_path / "nats.conf"
    conf.write_text(config.replace("/data", str(tmp_path / "data")))
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(conf)],
        env={"POD_NAME": "node1-continuum-nats-0", **passwords},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_an_external_nats_gets_logins_from_a_named_secret() -> None:
    external = {"enabled": False, "url": "nats://nats.messaging:4222"}
    docs = render({**BASE, "nats": external})
    assert not [d for d in docs if d["metadata"]["name"].endswith("-nats-logins")]
    gateway = next(d for d in docs if d["metadata"]["name"] == "node1-continuum-gateway")
    assert "CONTINUUM_NATS_USER" not in _env(gateway["spec"]["template"]["spec"]["containers"][0])
    docs = render({**BASE, "nats": {**external, "loginsSecret": "nats-logins"}})
    gateway = next(d for d in docs if d["metadata"]["name"] == "node1-continuum-gateway")
    env = _env(gateway["spec"]["template"]["spec"]["containers"][0])
    assert env["CONTINUUM_NATS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
        "name": "nats-logins",
        "key": "gateway",
    }


def _settings_map(docs: list[dict[str, Any]]) -> dict[str, str]:
    """The release's settings ConfigMap (every service's CONTINUUM_* values)."""
    found: dict[str, str] = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "node1-continuum"
    )["data"]
    return found


def test_a_release_joins_a_hub_with_mesh_hubs(tmp_path: Path) -> None:
    """`mesh.hubs`: the release's NATS renders its mesh config at start
    (`continuum mesh nats-config`, the NKey seed in memory) and includes it;
    a real nats-server accepts the result."""
    import base64
    import os
    import subprocess
    import sys

    from continuum.identity import NodeIdentity
    from continuum.node.embedded import nats_server_binary

    hub = "nats-leaf://hub.example.org:7422"
    docs = render({**BASE, "mesh": {"hubs": [hub], "price": 0.5}})
    config = next(
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-nats")
    )["data"]["nats.conf"]
    assert 'include "../nats-mesh/nats.conf"' in config and "jetstream" not in config
    settings = _settings_map(docs)
    assert settings["CONTINUUM_MESH_HUBS"] == hub
    assert settings["CONTINUUM_MESH_PRICE"] == "0.5"
    nats = next(d for d in docs if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]
    init = nats["initContainers"][0]
    assert init["command"][:3] == ["continuum", "mesh", "nats-config"]
    assert _env(init)["CONTINUUM_NODE_KEY"]["valueFrom"]["secretKeyRef"]["key"] == "node-key"
    memory = next(v for v in nats["volumes"] if v["name"] == "mesh-config")
    assert memory["emptyDir"]["medium"] == "Memory"

    # What the init container writes, next to what the ConfigMap holds.
    etc = tmp_path / "etc"
    (etc / "nats").mkdir(parents=True)
    (etc / "nats" / "nats.conf").write_text(config)
    key = base64.b64encode(bytes(NodeIdentity.generate().signing_key)).decode()
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    rendered = subprocess.run(
        [
            str(Path(sys.executable).parent / "continuum"),
            *init["command"][1:3],
            str(etc / "nats-mesh" / "nats.conf"),
            "--store-dir",
            str(tmp_path / "data"),
        ],
        env={
            **base,
            **settings,
            "CONTINUUM_NODE_KEY": key,
            "CONTINUUM_HOME": str(tmp_path),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert rendered.returncode == 0, rendered.stderr
    mesh_conf = (etc / "nats-mesh" / "nats.conf").read_text()
    assert f'"{hub}"' in mesh_conf and "account: MESH" in mesh_conf
    passwords = {
        e["name"]: "p0" + e["name"].lower()
        for e in nats["containers"][0]["env"]
        if e["name"].startswith("CONTINUUM_NATS_PASSWORD_")
    }
    checked = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(etc / "nats" / "nats.conf")],
        env={"POD_NAME": "node1-continuum-nats-0", **passwords},
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def test_a_release_as_hub_exposes_its_leaf_port() -> None:
    docs = render({**BASE, "mesh": {"hub": True, "port": 7422}})
    service = next(
        d
        for d in docs
        if d["kind"] == "Service" and d["metadata"]["name"] == "node1-continuum-nats"
    )
    assert {"name": "leafnodes", "port": 7422, "targetPort": "leafnodes"} in service["spec"][
        "ports"
    ]
    settings = _settings_map(docs)
    assert settings["CONTINUUM_MESH_URL"] == "nats-leaf://node1-continuum-nats:7422"
    with pytest.raises(Exception, match="admit"):
        render({**BASE, "mesh": {"hub": True, "admit": ["not-a-node-id"]}})


def test_a_release_can_use_another_nodes_market() -> None:
    docs = render({**BASE, "marketplace": {"market": "home-server"}})
    config = next(d for d in docs if d["kind"] == "ConfigMap" and "CONTINUUM_HOME" in d["data"])
    assert config["data"]["CONTINUUM_MARKET"] == "home-server"
    own = render(BASE)
    config = next(d for d in own if d["kind"] == "ConfigMap" and "CONTINUUM_HOME" in d["data"])
    assert "CONTINUUM_MARKET" not in config["data"]
