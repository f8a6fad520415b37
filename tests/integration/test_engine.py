"""The real engine: CLI, Python language host, dynamic providers and the
kubernetes plugin built by `make toolchain`, on a local file backend. The
fixture stacks run as stacks `dev` and `prod` (whose policy configs they
take); one test previews the users' example stacks as `make preview` does."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.kubeadm.rollout import plan
from stacks.addons import layers_off
from stacks.load import parse_stack
from tests.support.settings import fixture, fixture_config
from tools.mocked_program import run_program
from tools.stackrun import (
    ROOT,
    checked,
    engine_env,
    example_stacks,
    failure_text,
    init_stack,
    policy_args,
    preview_command,
    preview_json,
    run,
    throwaway_key,
    throwaway_secrets,
    workdir,
)

PROJECT = "runai-cluster"
KUBECONFIG_MARKER = "kubeconfig-secret-marker-7d1e3b"
# The pod network and the cluster layers (components/layers.py, LAYERS).
LAYER_COMPONENTS = ("runai-cluster:networking:PodNetwork", "runai-cluster:layers:ClusterLayers")
# The fixture stack each stack name runs.
FIXTURES = {"dev": "small", "prod": "production"}


def existing_cluster_config() -> dict[str, Any]:
    """A stack on an existing cluster with no inventory: `up` needs no machine."""
    config = fixture_config("small")
    config[f"{PROJECT}:cluster"]["bootstrap"] = "existing"
    config[f"{PROJECT}:nodes"] = []
    # `up` reaches no chart repository here: the layers count as present.
    config[f"{PROJECT}:addons"] = layers_off()
    return config


def fake_kubeconfig() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "u", "user": {"token": KUBECONFIG_MARKER}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


def prod_with_one_system_node() -> dict[str, Any]:
    """production, with prod-sys-2 no longer a system node: policy must refuse it."""
    config = fixture_config("production")
    for node in config[f"{PROJECT}:nodes"]:
        if node["name"] == "prod-sys-2":
            node["roles"] = ["cpu-worker"]
    return config


def layer_resources(stack: str) -> collections.Counter[str]:
    """What the program registers under mocks for the pod network and the
    layers, by type: their counts follow the list, not this test."""
    recorded, _ = run_program(fixture(FIXTURES[stack]), stack=stack)
    resources = recorded.resources

    def in_layers(urn: str) -> bool:
        while urn in resources:
            if resources[urn].type in LAYER_COMPONENTS:
                return True
            urn = resources[urn].parent
        return False

    return collections.Counter(r.type for r in resources.values() if in_layers(r.urn))


@pytest.fixture
def backend(tmp_path: Path) -> dict[str, str]:
    directory = tmp_path / "backend"
    directory.mkdir()
    return engine_env(backend=f"file://{directory}")


@pytest.mark.parametrize("stack", example_stacks())
def test_make_preview_of_each_example(stack: str, backend: dict[str, str]) -> None:
    # The users' example stacks, whatever they say, preview as `make
    # preview STACK=<stack>` runs them: the policy pack passing under the
    # stack's config, no node reachable.
    work = workdir(stack, name=f"it-example-{stack}")
    init_stack(work, stack, backend, throwaway_secrets())
    result = run(preview_command(stack), work, backend)
    assert result.returncode == 0, failure_text(result)
    assert "runai-cluster@v" in result.stdout


@pytest.mark.parametrize(("stack", "nodes", "planes"), [("dev", 4, 1), ("prod", 13, 3)])
def test_preview_without_reachable_nodes(stack: str, nodes: int, planes: int, backend: dict[str, str]) -> None:
    work = workdir(stack, settings=fixture_config(FIXTURES[stack]), name=f"it-{stack}")
    secrets = throwaway_secrets()
    key = secrets["sshPrivateKey"]
    init_stack(work, stack, backend, secrets)
    preview = preview_json(work, stack, backend)
    assert not preview.get("failed"), preview.get("diagnostics")
    ops = collections.Counter(step["op"] for step in preview["steps"])
    assert set(ops) == {"create"}
    types = collections.Counter(step["newState"]["type"] for step in preview["steps"])
    # per node: a preflight, a prep and a join script (or the init and the
    # kubeconfig reader), an upgrade and a label patch, the scripts of a kind
    # under one component for all nodes; per control plane its certificates'
    # watch and its API-server settings
    assert types["runai-cluster:preflight:Preflight"] == 1
    assert types["runai-cluster:nodes:NodePrep"] == 1
    assert types["runai-cluster:kubeadm:NodeJoin"] == 1
    # ... plus the MPIJob CRD hand-over before the training operators, the two
    # guards of CRDs that hold user objects (Knative's, the training ones), and in
    # prod Run:ai's objects: the step before a control-plane upgrade, the
    # administrator's password and the stack's application, the cluster's
    # registration, 2 node pools, 2 departments, 3 projects, 3 access rules,
    # 2 compute resources, 1 policy.
    runai_objects = 17 if stack == "prod" else 0
    # ... and where each wave of the upgrade rollout ends, one per wave.
    rollout = plan(parse_stack(fixture(FIXTURES[stack])))
    waves = sum(len(pool.waves) for pool in rollout.pools.values())
    assert types["pulumi-python:dynamic:Resource"] == 4 * nodes + 2 * planes + 4 + runai_objects + waves
    assert types["kubernetes:core/v1:NodePatch"] == nodes
    # prod also backs up etcd: the component, the agent's ConfigMap and
    # service account, the CronJob.
    backup = 4 if stack == "prod" else 0
    assert types["kubernetes:batch/v1:CronJob"] == (1 if backup else 0)
    # The pod network and the cluster layers, whatever the node count: what
    # the program registers for them under mocks, each one created.
    layers = layer_resources(stack)
    # prod installs Run:ai: the control plane's and the cluster's charts.
    runai_charts = 3 if stack == "prod" else 0  # and the NFS provisioner they store on
    assert types["kubernetes:helm.sh/v3:Release"] == layers["kubernetes:helm.sh/v3:Release"] + runai_charts
    for manifests in ("kubernetes:yaml/v2:ConfigFile", "kubernetes:kustomize/v2:Directory"):
        assert types[manifests] == layers[manifests]
    # prod's Run:ai: the install component, the control plane's namespace, TLS
    # secret, upgrade step and chart, the administrator's password and the
    # stack's application, the cluster's registration, namespace, chart and
    # RunaiConfig settings, the organisation's component and 13 objects, and
    # the backup's read access to Run:ai (component, 2 Roles, 2 RoleBindings).
    runai = 32 if stack == "prod" else 0  # plus the storage component and its release
    # Per node its five resources (preflight, prep, join or init and reader,
    # upgrade, label patch); the three components that hold every node's
    # scripts of a kind; the stack, cluster, provider and the rest.
    assert preview["changeSummary"] == {"create": 5 * nodes + 2 * planes + 11 + backup + layers.total() + runai + waves}
    if stack == "prod":
        names = {step["urn"].rsplit("::", 1)[-1] for step in preview["steps"]}
        assert {"gpu-prod-runai-control-plane", "gpu-prod-runai-registration", "gpu-prod-runai-cluster"} <= names
        assert {"gpu-prod-runai-admin-password", "gpu-prod-runai-application"} <= names
        assert {"gpu-prod-runai-org-project-serving", "gpu-prod-runai-org-pool-prod"} <= names
    assert key.splitlines()[1] not in json.dumps(preview)


def test_a_version_bump_changes_only_the_rollout(backend: dict[str, str]) -> None:
    # Two previews of prod through the real engine, the second with a newer
    # patch: every resource's inputs match but the upgrade resources' (whose
    # steps carry the version) and the `env` the version reaches elsewhere,
    # which re-runs nothing (RemoteScript's diff ignores it).
    work = workdir("prod", settings=fixture_config("production"), name="it-bump")
    init_stack(work, "prod", backend, throwaway_secrets())

    def inputs() -> dict[str, dict[str, Any]]:
        preview = preview_json(work, "prod", backend)
        assert not preview.get("failed"), preview.get("diagnostics")
        return {step["urn"]: step["newState"].get("inputs", {}) for step in preview["steps"]}

    before = inputs()
    checked(["config", "set", "--path", f"{PROJECT}:cluster.kubernetesVersion", "1.33.5"], work, backend)
    after = inputs()
    assert set(before) == set(after)
    changed = sorted(
        urn.rsplit("::", 1)[-1]
        for urn in after
        if {k: v for k, v in after[urn].items() if k != "env"} != {k: v for k, v in before[urn].items() if k != "env"}
    )
    nodes = [node["name"] for node in fixture("production")["nodes"]]
    assert changed == sorted(f"{name}-kubernetes-upgrade" for name in nodes)


def test_preview_diff_never_prints_the_ssh_key(backend: dict[str, str]) -> None:
    work = workdir("dev", settings=fixture_config("small"), name="it-diff")
    key = throwaway_key()
    init_stack(work, "dev", backend, {"sshPrivateKey": key})
    result = run(["preview", "--diff", "--stack", "dev"], work, backend)
    assert result.returncode == 0, result.stderr
    assert "dev-gpu-2-join" in result.stdout
    for line in key.splitlines()[1:-1]:
        assert line not in result.stdout + result.stderr


def test_bad_config_fails_preview_with_the_key_named(backend: dict[str, str]) -> None:
    config = fixture_config("small")
    config[f"{PROJECT}:nodes"][1]["address"] = "300.1.2.3"
    work = workdir("dev", settings=config, name="it-bad")
    init_stack(work, "dev", backend, {"sshPrivateKey": throwaway_key()})
    result = run(["preview", "--stack", "dev"], work, backend)
    assert result.returncode != 0
    assert "nodes[1].address: '300.1.2.3' is not an IP address or hostname" in result.stdout + result.stderr


def test_secrets_stay_secret_in_state_and_logs(backend: dict[str, str], tmp_path: Path) -> None:
    work = workdir("dev", settings=existing_cluster_config(), name="it-secrets")
    init_stack(work, "dev", backend, {"kubeconfig": fake_kubeconfig()})
    logs = checked(["up", "--yes", "--skip-preview", "--stack", "dev"], work, backend)
    logs += checked(["stack", "export", "--stack", "dev"], work, backend)
    logs += checked(["stack", "output", "--stack", "dev"], work, backend)
    state_files = [p for p in Path(backend["PULUMI_BACKEND_URL"].removeprefix("file://")).rglob("*") if p.is_file()]
    assert state_files
    state = "".join(p.read_text(errors="replace") for p in state_files)
    config_file = (work / "Pulumi.dev.yaml").read_text()
    for text in (logs, state, config_file):
        assert KUBECONFIG_MARKER not in text
    # ...yet it is there, encrypted: the owner of the passphrase can read it.
    shown = checked(["stack", "output", "kubeconfig", "--show-secrets", "--stack", "dev"], work, backend)
    assert KUBECONFIG_MARKER in shown
    # A second `up` changes nothing.
    again = checked(["preview", "--expect-no-changes", "--stack", "dev"], work, backend)
    assert "unchanged" in again


def test_policy_pack_passes_production_and_stops_a_bad_change(backend: dict[str, str]) -> None:
    pack = ["--policy-pack", str(ROOT / "policy")]
    work = workdir("prod", settings=fixture_config("production"), name="it-policy-ok")
    init_stack(work, "prod", backend, throwaway_secrets())
    ok = run(["preview", "--stack", "prod", *pack], work, backend)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "runai-cluster@v" in ok.stdout

    work = workdir("prod", settings=prod_with_one_system_node(), name="it-policy-bad")
    init_stack(work, "prod", backend, throwaway_secrets())
    bad = run(["preview", "--stack", "prod", *pack], work, backend)
    assert bad.returncode != 0
    assert "production-system-nodes" in bad.stdout
    assert "production needs at least 2 Run:ai system nodes, has 1 (prod-sys-1)" in bad.stdout


def over_committed_even_planes() -> dict[str, Any]:
    """small on the KAI path, its pool over-committed (20 GPUs guaranteed on
    16) and a second control plane (an even number)."""
    config = fixture_config("small")
    config[f"{PROJECT}:cluster"]["apiEndpoint"] = {"host": "192.0.2.5"}
    config[f"{PROJECT}:nodes"][1]["roles"] = ["control-plane", "system"]
    config[f"{PROJECT}:scheduler"] = {"kind": "kai", "kai": {"installChart": False}}
    config[f"{PROJECT}:org"] = {
        "departments": [
            {"name": "vision", "quotas": {"dev": {"gpu": 12}}, "projects": [{"name": "detection"}]},
            {"name": "language", "quotas": {"dev": {"gpu": 8}}},
        ]
    }
    return config


def test_policy_pack_with_stack_configs(backend: dict[str, str]) -> None:
    """small passes under dev's (advisory) config; a stack that over-commits a
    pool and has an even number of control planes fails under prod's
    (mandatory)."""
    work = workdir("dev", settings=fixture_config("small"), name="it-policy-dev")
    init_stack(work, "dev", backend, {"sshPrivateKey": throwaway_key()})
    ok = run(["preview", "--stack", "dev", *policy_args("dev")], work, backend)
    assert ok.returncode == 0, ok.stdout + ok.stderr

    work = workdir("dev", settings=over_committed_even_planes(), name="it-policy-overcommit")
    init_stack(work, "dev", backend, {"sshPrivateKey": throwaway_key()})
    mandatory = ["--policy-pack", str(ROOT / "policy"), "--policy-pack-config", str(ROOT / "policy/config/prod.json")]
    bad = run(["preview", "--stack", "dev", *mandatory], work, backend)
    assert bad.returncode != 0
    assert "quota-node-pool-capacity" in bad.stdout
    assert "node pool 'dev': departments are guaranteed 20 GPUs (vision=12, language=8)" in bad.stdout
    assert "control-plane-quorum" in bad.stdout
    assert "2 control planes (dev-cp-1, dev-sys-1); etcd needs an odd number" in bad.stdout

    # Under dev's config findings are advisory: reported, not fatal; and dev
    # allows its pool to be over-committed twice.
    advisory = run(["preview", "--stack", "dev", *policy_args("dev")], work, backend)
    assert advisory.returncode == 0, advisory.stdout + advisory.stderr
    assert "[advisory]  control-plane-quorum" in advisory.stdout
    assert "quota-node-pool-capacity" not in advisory.stdout
