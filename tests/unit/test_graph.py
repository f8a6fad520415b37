"""The dependency graph the program registers, under mocks."""

from __future__ import annotations

import json

from components.kubeadm.rollout import upgrade_stages
from stacks.load import parse_stack
from tests.support.generated import generated
from tests.support.programs import registered
from tests.support.settings import fixture
from tools.mocked_program import KUBECONFIG, SSH_KEY, Recorded, resolve, run_program

REMOTE = "pulumi-python:dynamic:Resource"


def remote(recorded: Recorded, name: str) -> str:
    return recorded.by_name(name).urn


def depends(recorded: Recorded, urn: str, on: str) -> bool:
    """Direct dependency on `on` or on a child of the component `on`."""
    deps = recorded.resources[urn].dependencies
    return on in deps


def test_every_prep_precedes_init(prod: Recorded) -> None:
    init = remote(prod, "prod-cp-1-kubeadm-init")
    for node in ("prod-cp-1", "prod-cp-2", "prod-sys-1", "prod-gpu-8"):
        assert depends(prod, init, remote(prod, f"{node}-prep")), node


def test_workers_join_after_the_control_planes_settle_not_after_each_other(prod: Recorded) -> None:
    # The last control plane's upgrade resource: after init and every
    # control-plane join, so a new worker never joins ahead of its API server.
    planes_done = remote(prod, "prod-cp-3-kubernetes-upgrade")
    worker_joins = [remote(prod, f"prod-gpu-{i}-join") for i in range(1, 9)]
    worker_joins += [remote(prod, f"prod-sys-{i}-join") for i in range(1, 3)]
    for join in worker_joins:
        assert depends(prod, join, planes_done)
        assert not set(prod.resources[join].dependencies) & set(worker_joins)


def test_control_planes_join_one_at_a_time(prod: Recorded) -> None:
    cp2 = remote(prod, "prod-cp-2-join")
    cp3 = remote(prod, "prod-cp-3-join")
    assert depends(prod, cp2, remote(prod, "prod-cp-1-kubeadm-init"))
    assert depends(prod, cp3, cp2)


def test_join_asks_the_first_control_plane_for_a_fresh_command(prod: Recorded) -> None:
    join = prod.by_name("prod-gpu-1-join").inputs
    steps = join["create_steps"]
    assert [(s["name"], s["on"]) for s in steps] == [
        ("machine-state", "node"),
        ("forget-stale", "first-control-plane"),
        ("join-command", "first-control-plane"),
        ("kubeadm-join", "node"),
    ]
    assert join["hosts"] == {"node": "ubuntu@198.51.100.31:22", "first-control-plane": "ubuntu@198.51.100.11:22"}
    assert json.loads(join["connections"])["first-control-plane"]["target"]["host"] == "198.51.100.11"
    assert steps[0]["capture"] == "MACHINE_STATE"
    assert "ONLY_STALE=true" in steps[1]["script"]
    assert steps[2]["capture"] == "JOIN_COMMAND"
    assert "CONTROL_PLANE_JOIN=false" in steps[2]["script"]
    cp_steps = prod.by_name("prod-cp-2-join").inputs["create_steps"]
    assert "CONTROL_PLANE_JOIN=true" in cp_steps[2]["script"]
    template = prod.by_name("prod-cp-2-join").inputs["env"]["JOIN_TEMPLATE"]
    assert "certificateKey:" in template and "@CERT_KEY@" in template


def depth_and_waves(count: int, max_unavailable: int | str = "10%") -> tuple[int, int]:
    """The longest chain of a one-control-plane stack of `count` nodes, and
    the waves of its GPU pool."""
    settings = generated(count, control_planes=1)
    settings["cluster"]["upgrade"] = {"maxUnavailable": max_unavailable}
    recorded, _ = run_program(settings, stack="dev")
    return recorded.max_depth(), len(upgrade_stages(parse_stack(settings))["pools"]["prod"]["waves"])


def test_graph_depth_grows_only_with_the_number_of_waves() -> None:
    # Installing is parallel whatever the size; only the upgrade rollout is a
    # chain, two links per wave (its nodes, then its end). The same waves over
    # five times the nodes: the same depth. (`make bench` prints 8 against
    # 512 nodes.)
    depth, waves = depth_and_waves(8)
    assert waves == 5
    assert depth_and_waves(28, max_unavailable=5) == (depth, 5)
    assert depth_and_waves(28) == (depth + 2 * (13 - 5), 13)


# The type chains of each node's scripts when every node had its own
# Preflight, NodePrep and NodeJoin component. A URN names its parents'
# types, not their names: under one component per stage with the same type
# token the scripts keep their URNs, so an existing stack runs nothing again.
FORMER_CHAINS = {
    "preflight": "runai-cluster:cluster:Cluster$runai-cluster:preflight:Preflight$" + REMOTE,
    "prep": "runai-cluster:cluster:Cluster$runai-cluster:nodes:NodePrep$" + REMOTE,
    "join": "runai-cluster:cluster:Cluster$runai-cluster:kubeadm:NodeJoin$" + REMOTE,
}


def type_chain(recorded: Recorded, name: str) -> str:
    """The types in the URN the engine gives a resource: its ancestors' and
    its own (the mocks' URNs name the parent's type only)."""
    types, current = [], recorded.by_name(name)
    while current is not None:
        types.insert(0, current.type)
        current = recorded.resources.get(current.parent)
    return "$".join(types)


def test_node_scripts_keep_the_urns_they_had_under_per_node_components(dev: Recorded) -> None:
    for node in ("dev-cp-1", "dev-sys-1", "dev-gpu-1", "dev-gpu-2"):
        for script, chain in FORMER_CHAINS.items():
            if (node, script) != ("dev-cp-1", "join"):  # the first control plane inits
                assert type_chain(dev, f"{node}-{script}") == chain, (node, script)
    for component in ("preflight:Preflight", "nodes:NodePrep", "kubeadm:NodeJoin"):
        assert len(dev.of_type(f"runai-cluster:{component}")) == 1, component


def test_node_roles_become_labels_and_taints(dev: Recorded) -> None:
    gpu = dev.by_name("gpu-dev-node-roles-dev-gpu-1").inputs
    assert gpu["metadata"]["labels"] == {
        "node-role.kubernetes.io/runai-gpu-worker": "true",
        "run.ai/node-pool": "dev",
    }
    system = dev.by_name("gpu-dev-node-roles-dev-sys-1").inputs["metadata"]["labels"]
    assert system == {
        "node-role.kubernetes.io/runai-system": "true",
        "node-role.kubernetes.io/runai-cpu-worker": "true",
    }
    assert dev.by_name("gpu-dev-node-roles-dev-cp-1").inputs["metadata"]["labels"] == {}


def test_maintenance_puts_the_drain_taint_on() -> None:
    settings = fixture("small")
    settings["nodes"][2]["maintenance"] = True
    settings["nodes"][2]["taints"] = [{"key": "gpu", "value": "a100", "effect": "NoSchedule"}]
    recorded, _ = run_program(settings)
    taints = recorded.by_name("gpu-dev-node-roles-dev-gpu-1").inputs["spec"]["taints"]
    assert taints == [
        {"key": "gpu", "value": "a100", "effect": "NoSchedule"},
        {"key": "runai", "value": "drain", "effect": "NoExecute"},
    ]


def test_node_patches_wait_for_their_join(dev: Recorded) -> None:
    patch = dev.by_name("gpu-dev-node-roles-dev-gpu-2").urn
    assert depends(dev, patch, remote(dev, "dev-gpu-2-join"))
    # the pod network waits for every join (through the rollout), and the layers for it
    cni = dev.by_name("gpu-dev-cni-flannel").urn
    assert dev.reaches(cni, remote(dev, "dev-gpu-2-join"))
    assert cni in dev.by_name("gpu-dev-layers-metallb-chart").dependencies


def test_removal_steps_graceful_and_force() -> None:
    settings = fixture("small")
    settings["nodes"][3]["removal"] = "force"
    recorded, _ = run_program(settings)
    graceful = recorded.by_name("dev-gpu-1-join").inputs["delete_steps"]
    assert [s["name"] for s in graceful] == ["drain", "reset", "remove-node"]
    force = recorded.by_name("dev-gpu-2-join").inputs["delete_steps"]
    assert [(s["name"], s["on"]) for s in force] == [("remove-node", "first-control-plane")]
    # The first control plane is reset too, by `destroy` (nothing else deletes it).
    init = recorded.by_name("dev-cp-1-kubeadm-init").inputs["delete_steps"]
    assert [(s["name"], s["on"]) for s in init] == [("reset", "node")]


def test_existing_cluster_skips_nodes_and_kubeadm() -> None:
    settings = fixture("small")
    settings["cluster"]["bootstrap"] = "existing"
    recorded, cluster = run_program(settings, secrets={"kubeconfig": KUBECONFIG})
    assert not recorded.of_type(REMOTE, under="kubeadm") and not recorded.of_type(REMOTE, under="nodes:NodePrep")
    assert recorded.of_type("kubernetes:core/v1:NodePatch")
    value, secret = resolve(cluster.kubeconfig)
    assert secret and value == KUBECONFIG


def test_ssh_key_and_kubeconfig_are_secret_outputs() -> None:
    recorded, cluster = run_program(fixture("small"))
    value, secret = resolve(cluster.kubeconfig)
    assert secret and value == KUBECONFIG
    for registration in [r for r in recorded.of_type(REMOTE) if "create_steps" in r.inputs]:
        connections = json.loads(registration.inputs["connections"])
        assert all(c["private_key"] == SSH_KEY for c in connections.values())
        assert "connections" in registration.secret_paths, registration.name
        scripts = str(registration.inputs["create_steps"]) + str(registration.inputs.get("delete_steps"))
        assert SSH_KEY not in scripts
    provider = recorded.of_type("pulumi:providers:kubernetes")[0]
    assert "kubeconfig" in provider.secret_paths


def test_the_cluster_provider_waits_for_every_control_plane(prod: Recorded) -> None:
    # So `destroy` deletes the cluster's objects before any control plane leaves.
    provider = prod.of_type("pulumi:providers:kubernetes")[0]
    members = {r.urn for r in prod.of_type(REMOTE) if r.name.endswith(("-kubeadm-init", "-join"))}
    planes = {urn for urn in members if any(f"::{cp}-" in urn for cp in ("prod-cp-1", "prod-cp-2", "prod-cp-3"))}
    assert planes and planes <= set(provider.dependencies)


def test_scripts_carry_versions_and_kubeadm_config(dev: Recorded) -> None:
    prep_steps = dev.by_name("dev-gpu-1-prep").inputs["create_steps"]
    assert [s["name"] for s in prep_steps] == ["node-prep", "gpu-host"]
    # The version is exported, not rendered: bumping it re-runs no preparation.
    assert "\nKUBERNETES_VERSION=" not in prep_steps[0]["script"]
    env = dev.by_name("dev-gpu-1-prep").inputs["env"]
    assert env["KUBERNETES_VERSION"] == "1.32.8"
    assert env["KUBERNETES_APT_REPO"] == "https://pkgs.k8s.io/core:/stable:/v1.32/deb/"
    assert [s["name"] for s in dev.by_name("dev-cp-1-prep").inputs["create_steps"]] == ["node-prep"]
    init = dev.by_name("dev-cp-1-kubeadm-init").inputs
    assert "apiVersion: kubeadm.k8s.io/v1beta4" in init["env"]["KUBEADM_CONFIG"]
    assert "kubernetesVersion: v1.32.8" in init["env"]["KUBEADM_CONFIG"]


def test_a_generation_bump_reaches_the_join_and_the_node_labels() -> None:
    settings = fixture("small")
    node = next(n for n in settings["nodes"] if n["name"] == "dev-gpu-1")
    before = registered(settings)
    node["generation"] = 3
    after, _ = run_program(settings, stack="dev")
    # The join re-runs (its script carries the generation) and the labels are
    # applied again to the Node the reinstalled machine registers.
    assert before.by_name("dev-gpu-1-join").inputs["triggers"] != after.by_name("dev-gpu-1-join").inputs["triggers"]
    patch = after.by_name("gpu-dev-node-roles-dev-gpu-1").inputs["metadata"]
    assert patch["annotations"] == {"runai-cluster.io/generation": "3"}
    assert before.by_name("dev-gpu-2-join").inputs == after.by_name("dev-gpu-2-join").inputs
