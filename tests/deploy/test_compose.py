"""The compose stack: every service is there, built from a Dockerfile that exists,
wired with the settings names the services read."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path

import jsonschema
import yaml

ROOT = Path(__file__).parents[2]
STACK = ROOT / "deploy" / "compose"
COMPOSE = yaml.safe_load((STACK / "compose.yaml").read_text())
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
    from test_helm_chart import settings_names

    known = settings_names() | {"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_METRIC_EXPORT_INTERVAL"}
    for name, service in COMPOSE["services"].items():
        env = service.get("environment") or {}
        if name in SERVICES or name == "bootstrap":
            assert set(env) <= known, name
            assert "CONTINUUM_NATS_URL" in env


def test_dockerfiles_run_the_service_as_non_root_with_a_healthcheck() -> None:
    from continuum.node.services import installed_services

    modules = installed_services()
    for name in SERVICES:
        text = (ROOT / "services" / name / "Dockerfile").read_text()
        assert "USER 10001" in text
        assert f'"continuum.runtime.healthcheck", "{name}"' in text
        package = modules[name]
        assert f'CMD ["python", "-m", "{package}"]' in text


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_stack_has_the_infrastructure_and_observability_services() -> None:
    wanted = {"nats", "postgres", "qdrant", "otel-collector", "tempo", "prometheus", "grafana"}
    assert wanted <= set(COMPOSE["services"])
    nats_image = COMPOSE["services"]["nats"]["image"]
    major, minor = (int(x) for x in re.findall(r"nats:(\d+)\.(\d+)", nats_image)[0])
    assert (major, minor) >= (2, 12), "atomic batch publish (ADR-50) needs NATS 2.12+"
    assert COMPOSE["services"]["nats"]["command"][:2] == ["-c", "/conf/nats.conf"]


def test_mounted_config_files_exist() -> None:
    for name, service in COMPOSE["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (STACK / source).exists(), f"{name} mounts missing {source}"


def test_gateway_port_and_telemetry_are_wired() -> None:
    gateway = COMPOSE["services"]["gateway"]
    env = gateway["environment"]
    assert f"{env['CONTINUUM_GATEWAY_PORT']}:{env['CONTINUUM_GATEWAY_PORT']}" in gateway["ports"]
    assert env["CONTINUUM_GATEWAY_HOST"] == "0.0.0.0"
    assert "CONTINUUM_GATEWAY_ADMIN_TOKEN" in env and "CONTINUUM_NODE_KEY" in env
    collector = yaml.safe_load((STACK / "otel-collector.yaml").read_text())
    http = collector["receivers"]["otlp"]["protocols"]["http"]["endpoint"]
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == f"http://otel-collector:{http.split(':')[-1]}"
    pipelines = collector["service"]["pipelines"]
    assert pipelines["traces"]["exporters"] == ["otlp/tempo"]
    assert collector["exporters"]["otlp/tempo"]["endpoint"] == "tempo:4317"
    tempo = yaml.safe_load((STACK / "tempo.yaml").read_text())
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(
        ":4317"
    )
    prometheus = yaml.safe_load((STACK / "prometheus.yml").read_text())
    exporter_port = collector["exporters"]["prometheus"]["endpoint"].split(":")[-1]
    targets = prometheus["scrape_configs"][0]["static_configs"][0]["targets"]
    assert f"otel-collector:{exporter_port}" in targets


def _datasources() -> dict[str, dict[str, object]]:
    path = STACK / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    return {d["uid"]: d for d in yaml.safe_load(path.read_text())["datasources"]}


def test_grafana_datasources_link_traces_and_metrics() -> None:
    sources = _datasources()
    assert sources["prometheus"]["type"] == "prometheus"
    assert sources["tempo"]["type"] == "tempo"
    prom = sources["prometheus"]["jsonData"]
    tempo = sources["tempo"]["jsonData"]
    assert isinstance(prom, dict) and isinstance(tempo, dict)
    assert prom["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus"


def _exported_metric_names() -> set[str]:
    """Prometheus names of every instrument the code creates, translated the
    way the collector's Prometheus exporter does (dots to underscores, unit
    suffix, _total for counters, _bucket/_count/_sum for histograms)."""
    pattern = re.compile(
        r"create_(histogram|counter|up_down_counter|observable_gauge)\(\s*"
        r'"([a-z0-9_.]+)"(?:.|\n)*?unit="([^"]*)"'
    )
    names: set[str] = set()
    # FastStream's OpenTelemetry middleware is every service's too (ADR 0016).
    import faststream.opentelemetry.middleware as faststream_telemetry

    faststream_source = Path(faststream_telemetry.__file__).read_text()
    keyword = re.compile(
        r"create_(histogram|counter)\(\s*name=\"([a-z0-9_.]+)\",\s*unit=\"([^\"]*)\""
    )
    found = keyword.findall(faststream_source)
    assert found, "FastStream's telemetry instruments were not found"
    sources = [*ROOT.glob("libs/*/src/**/*.py"), *ROOT.glob("services/*/src/**/*.py")]
    for kind, name, unit in [m for s in sources for m in pattern.findall(s.read_text())] + found:
        base = name.replace(".", "_") + ("_seconds" if unit == "s" else "")
        if kind == "histogram":
            names |= {f"{base}_bucket", f"{base}_count", f"{base}_sum"}
        elif kind == "counter":
            names.add(f"{base}_total")
        else:
            names.add(base)
    return names


def test_overview_dashboard_queries_metrics_the_services_export() -> None:
    dashboard = json.loads(
        (STACK / "grafana" / "dashboards" / "continuum-overview.json").read_text()
    )
    assert dashboard["title"] == "Continuum overview"
    provider = yaml.safe_load(
        (STACK / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml").read_text()
    )["providers"][0]
    grafana_mounts = COMPOSE["services"]["grafana"]["volumes"]
    assert any(m.endswith(":" + provider["options"]["path"] + ":ro") for m in grafana_mounts)
    exported = _exported_metric_names()
    assert "http_server_request_duration_seconds_count" in exported
    sources = _datasources()
    queried: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in sources
        for target in panel["targets"]:
            assert target["datasource"]["uid"] in sources
            if panel["datasource"]["type"] == "prometheus":
                queried |= set(
                    re.findall(
                        r"\b([a-z_]+_(?:total|count|bucket|sum|lag|messages|streams))\b",
                        target["expr"],
                    )
                )
    assert queried, "the dashboard queries no metrics"
    assert queried <= exported, queried - exported


def _render_nats_config(service: str, tmp_path: Path, env: dict[str, str]) -> Path:
    """Run the stack's nats-config service's command here, as the container would."""
    import subprocess
    import sys

    spec = COMPOSE["services"][service]
    out = tmp_path / service / "nats.conf"
    command = [c.replace("/conf/nats.conf", str(out)) for c in spec["command"]]
    command = [c.replace("/data", str(tmp_path / service / "data")) for c in command]
    variables = {
        k: re.sub(r"\$\{(\w+)(:[?-][^}]*)?\}", lambda m: env.get(m.group(1), ""), v)
        for k, v in spec["environment"].items()
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("CONTINUUM_")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / command[0]), *command[1:]],
        env={**base, **variables, "CONTINUUM_HOME": str(tmp_path / service / "home")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def test_each_process_logs_in_to_nats_as_itself(tmp_path: Path) -> None:
    """The stack's NATS runs the config `continuum mesh nats-config` renders:
    the same accounts and permissions as `continuum up`, node 2 admitted, and
    a real nats-server accepts it with the passwords its container gets."""
    import subprocess

    from continuum.identity import NodeIdentity
    from continuum.natsauth import IDENTITIES, authorization_block, password_variable
    from continuum.node.embedded import nats_server_binary

    nats = COMPOSE["services"]["nats"]
    assert nats["command"][:2] == ["-c", "/conf/nats.conf"]
    assert "nats-conf:/conf:ro" in nats["volumes"]
    assert nats["depends_on"]["nats-config"]["condition"] == "service_completed_successfully"
    assert set(nats["environment"]) == {password_variable(i) for i in IDENTITIES.values()}
    node1, node2 = NodeIdentity.generate(), NodeIdentity.generate()
    env = {
        "CONTINUUM_NODE_KEY": base64.b64encode(bytes(node1.signing_key)).decode(),
        "CONTINUUM_NODE_KEY_2": base64.b64encode(bytes(node2.signing_key)).decode(),
        "CONTINUUM_NODE_ID_2": node2.node_id,
    }
    passwords = {name: "p0" + name.lower() for name in nats["environment"]}
    for service, admitted in (("nats-config", [node2.node_id]), ("nats-config-2", [])):
        conf = _render_nats_config(service, tmp_path, env)
        text = conf.read_text()
        assert authorization_block(admitted=admitted) in text
        assert f"domain: {(node1 if admitted else node2).node_id}" in text
        assert os.stat(conf).st_mode & 0o777 == 0o600
        checked = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(conf)],
            env=passwords,
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr
    assert 'listen: "0.0.0.0:7422"' in (tmp_path / "nats-config" / "nats.conf").read_text()
    leaf = (tmp_path / "nats-config-2" / "nats.conf").read_text()
    assert '"nats-leaf://nats:7422"' in leaf and "account: MESH" in leaf
    for name in [*SERVICES, "bootstrap"]:
        env_ = COMPOSE["services"][name]["environment"]
        identity = IDENTITIES["node" if name == "bootstrap" else name]
        assert env_["CONTINUUM_NATS_USER"] == identity.name
        assert env_["CONTINUUM_NATS_PASSWORD"].startswith("${" + password_variable(identity) + ":?")


def test_the_mesh_profile_runs_a_second_node_joined_to_the_first() -> None:
    services = COMPOSE["services"]
    for name in [*SERVICES, "bootstrap", "nats", "nats-config", "postgres"]:
        second = services[f"{name}-2"]
        assert second["profiles"] == ["mesh"], name
        assert "profiles" not in services[name]
        env = second.get("environment") or {}
        if name in SERVICES:
            assert env["CONTINUUM_NATS_URL"] == "nats://nats-2:4222"
            assert "@postgres-2:5432/" in env["CONTINUUM_DATABASE_URL"]
            assert env["CONTINUUM_NODE_KEY"].startswith("${CONTINUUM_NODE_KEY_2:?")
            first = services[name]["environment"]
            assert env["CONTINUUM_NATS_USER"] == first["CONTINUUM_NATS_USER"]
            assert set(second["depends_on"]) >= {"bootstrap-2", "postgres-2"}
    assert services["gateway-2"]["ports"] == ["8081:8080"]
    admit = services["nats-config"]["environment"]["CONTINUUM_MESH_ADMIT"]
    assert admit == "${CONTINUUM_NODE_ID_2:-}"
    assert services["gateway"]["environment"]["CONTINUUM_MESH_URL"] == "nats-leaf://nats:7422"


def test_compose_env_writes_every_secret_the_stack_requires(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    required = set(re.findall(r"\$\{(\w+):\?", (STACK / "compose.yaml").read_text()))
    env_file = tmp_path / ".env"
    env_file.write_text("POSTGRES_PASSWORD=mine1234567890abcdef\n")
    tool = Path(sys.executable).parent / "continuum"
    done = subprocess.run(
        [str(tool), "compose-env", str(env_file)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = [ln for ln in env_file.read_text().splitlines() if ln and not ln.startswith("#")]
    values = dict(line.split("=", 1) for line in lines)
    assert required <= set(values)
    assert values["POSTGRES_PASSWORD"] == "mine1234567890abcdef"  # kept
    assert os.stat(env_file).st_mode & 0o777 == 0o600
    again = subprocess.run(
        [str(tool), "compose-env", str(env_file)], capture_output=True, text=True, check=False
    )
    assert "0 secret(s) generated" in again.stdout
    env_file.write_text("CONTINUUM_NATS_PASSWORD_NODE=1234\n")
    bad = subprocess.run(
        [str(tool), "compose-env", str(env_file)], capture_output=True, text=True, check=False
    )
    assert bad.returncode != 0 and "CONTINUUM_NATS_PASSWORD_NODE must be a letter" in bad.stderr
