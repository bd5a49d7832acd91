"""The mesh as a user builds it: three nodes started with `continuum up`, a
hub and two leaves joined with `continuum mesh join` / `mesh admit` (applied
to the running nodes by a reload, no restart), then the issue's three
commands: the same `jtag ai/generate` locally, on a named node, and across
the mesh."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from node_cli import cli, mesh_node_env, state, wait_until

from continuum.natsauth.audit import violations
from continuum.node.ports import free_port
from continuum_persona.testing.layers import train_test_layer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _node(root: Path, name: str, model: Path, lan_port: int) -> dict[str, str]:
    # Slow periodic adverts: a new persona reaches peers because the node
    # announces on change, not because a period came round.
    return mesh_node_env(
        root, name, model, lan_port,
        CONTINUUM_PERSONA_MAX_NEW_TOKENS="24",
        CONTINUUM_MESH_ANNOUNCE_S="60",
        CONTINUUM_MESH_ADVERT_TTL_S="180",
    )  # fmt: skip


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: Path
) -> Iterator[dict[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("mesh-nodes")
    lan_port = free_port()
    envs = {
        name: _node(root, name, tiny_model, lan_port) for name in ("home-server", "laptop", "pod")
    }
    hub_port = free_port()
    try:
        up = cli(envs["home-server"], "up", "--detach", "--hub", "--hub-port", str(hub_port))
        assert up.returncode == 0, up.stdout + up.stderr
        for name in ("laptop", "pod"):
            up = cli(envs[name], "up", "--detach")
            assert up.returncode == 0, up.stdout + up.stderr
        envs["home-server"]["HUB"] = f"nats-leaf://127.0.0.1:{hub_port}"
        yield envs
    finally:
        for env in envs.values():
            cli(env, "down")
    for env in envs.values():
        assert violations(Path(env["CONTINUUM_HOME"]) / "nats" / "nats.log") == []


def _generate(env: dict[str, str], *flags: str) -> dict[str, object]:
    done = cli(env, "ai/generate", *flags, "--json", tool="jtag", timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_three_nodes_join_and_the_same_command_runs_anywhere(
    nodes: dict[str, dict[str, str]],
) -> None:
    hub, laptop, pod = nodes["home-server"], nodes["laptop"], nodes["pod"]
    url = hub["HUB"]
    laptop_id = state(laptop)["node_id"]

    # Not admitted yet: the join stays configured, and the hint says what to run.
    early = cli(laptop, "mesh", "join", url, "--wait", "4")
    assert early.returncode == 2, early.stdout + early.stderr
    assert f"continuum mesh admit {laptop_id}" in early.stderr.replace("\n", "")
    for env in (laptop, pod):
        admitted = cli(hub, "mesh", "admit", state(env)["node_id"])
        assert admitted.returncode == 0 and "admitted" in admitted.stdout, admitted.stderr
    for env in (laptop, pod):
        joined = cli(env, "mesh", "join", url)
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert "joined " + url in joined.stdout and "home-server" in joined.stdout
    own = cli(hub, "mesh", "join", url)
    assert own.returncode == 2 and "own leaf port" in own.stderr, own.stderr

    create = cli(
        pod,
        "persona",
        "create",
        "Translator AI",
        "--role",
        "translates between languages",
        "--domains",
        "translation,mandarin",
    )
    assert create.returncode == 0, create.stdout + create.stderr
    gpu = cli(hub, "persona", "create", "GPU AI", "--role", "renders", "--domains", "3d,render")
    assert gpu.returncode == 0, gpu.stdout + gpu.stderr

    def offered(persona: str) -> bool:
        seen = cli(laptop, "mesh", "peers", "--json")
        return persona in seen.stdout

    wait_until(lambda: offered("Translator AI") and offered("GPU AI"), timeout=10)
    local = _generate(laptop, "--prompt=Explain RTOS", "--persona=Teacher AI")
    assert local["status"] == "complete" and local["persona"] == "teacher-ai"
    named = _generate(laptop, "--prompt=Render 3D scene", "--persona=GPU AI", "--mesh=home-server")
    assert named["node"] == state(hub)["node_id"], named
    across = _generate(
        laptop, "--prompt=Translate to Mandarin", "--persona=Translator AI", "--mesh=global"
    )
    assert across["node"] == state(pod)["node_id"], across

    peers = cli(laptop, "mesh", "peers")
    assert peers.returncode == 0, peers.stderr
    assert "home-server" in peers.stdout and "pod" in peers.stdout and " ms" in peers.stdout
    lan = cli(laptop, "mesh", "peers", "--lan")
    assert url in lan.stdout and "pod" in lan.stdout, lan.stdout + lan.stderr


def test_layers_are_found_and_pulled_across_the_mesh(
    nodes: dict[str, dict[str, str]], tiny_model: Path, tmp_path: Path
) -> None:
    """After the joins above: a layer published on the pod is found from the
    laptop with `genome search --mesh global`, and pulled (verified, then
    written and installed) with `genome pull --from pod`."""
    laptop, pod = nodes["laptop"], nodes["pod"]
    layer = train_test_layer(tiny_model, tmp_path / "sql", "SELECT * FROM t " * 4, steps=1)
    published = cli(
        pod,
        "genome",
        "publish",
        str(layer),
        "--name",
        "sql-helper",
        "--description",
        "writes SQL queries for relational databases",
        "--domains",
        "sql",
    )
    assert published.returncode == 0, published.stdout + published.stderr

    found = cli(laptop, "genome", "search", "SQL queries", "--mesh", "global")
    assert found.returncode == 0, found.stdout + found.stderr
    assert "sql-helper@1.0.0" in found.stdout and "pod" in found.stdout
    alone = cli(laptop, "genome", "search", "SQL queries")
    assert "sql-helper" not in alone.stdout

    out = tmp_path / "pulled"
    pull = ("genome", "pull", "sql-helper", "--from", "pod", "--install", "--out", str(out))
    pulled = cli(laptop, *pull)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "verified (sha256 and signature)" in pulled.stdout
    assert (out / "adapter_model.safetensors").read_bytes() == (
        layer / "adapter_model.safetensors"
    ).read_bytes()
    shown = cli(laptop, "genome", "show", "sql-helper")
    assert shown.returncode == 0 and "writes SQL queries" in shown.stdout, shown.stderr

    missing = cli(laptop, "genome", "pull", "no-such-layer", "--from", "pod")
    assert missing.returncode == 2 and "no-such-layer" in missing.stderr, missing.stderr
    nowhere = cli(laptop, "genome", "pull", "sql-helper", "--from", "nowhere")
    assert nowhere.returncode == 2 and "no node 'nowhere'" in nowhere.stderr, nowhere.stderr
