"""Kubernetes upgrades: the rollout graph under mocks, and upgrade.sh run for
real under bash against a fake machine (tests/support/fake_node.py) with
stand-ins for kubeadm, kubectl and crictl that keep the Node's state."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from components.kubeadm.rollout import upgrade_stages
from components.kubeadm.upgrade import PHASES
from components.scripts import render_script
from stacks.model import StackConfig
from tests.support.fake_node import FakeNode, Run
from tests.support.settings import fixture
from tools.mocked_program import Recorded, run_program

SCRIPT = Path(__file__).resolve().parents[2] / "components" / "kubeadm" / "upgrade.sh"
OLD, NEW = "1.31.9-1.1", "1.32.8-1.1"

# The Node lives in $S/node: unschedulable, taints (one per line), undo (the
# annotation); its kubeletVersion is the installed kubelet package's.
KUBECTL = r"""
n=$S/node
mkdir -p "$n"
touch "$n/taints"
case $1 in
  get)
    path=${!#}
    case $path in
      *kubeletVersion*) v=$(<"$S/dpkg/kubelet"); printf 'v%s' "${v%%-*}" ;;
      *upgrade-undo*) if [[ -f $n/undo ]]; then cat "$n/undo"; fi ;;
      *upgrade-boot-id*) if [[ -f $n/recorded-boot ]]; then cat "$n/recorded-boot"; fi ;;
      *nvidia-driver*) if [[ -f $n/driver ]]; then cat "$n/driver"; fi ;;
      *bootID*) cat "$S/boot-id" 2>/dev/null || echo boot-1 ;;
      *unschedulable*) if [[ -f $n/unschedulable ]]; then printf true; fi ;;
      *taints*) cat "$n/taints" ;;
      *) echo "fake kubectl: unsupported jsonpath $path" >&2; exit 1 ;;
    esac
    ;;
  annotate)
    for arg in "$@"; do
      case $arg in
        runai-cluster.io/upgrade-undo-) rm -f "$n/undo" ;;
        runai-cluster.io/upgrade-undo=*) printf '%s' "${arg#*=}" >"$n/undo" ;;
        runai-cluster.io/upgrade-boot-id-) rm -f "$n/recorded-boot" ;;
        runai-cluster.io/upgrade-boot-id=*) printf '%s' "${arg#*=}" >"$n/recorded-boot" ;;
        runai-cluster.io/nvidia-driver=*) printf '%s' "${arg#*=}" >"$n/driver" ;;
      esac
    done
    ;;
  taint)
    taint=$4
    if [[ $taint == *- ]]; then
      grep -vxF "${taint%-}" "$n/taints" >"$n/taints.new" || true
      mv "$n/taints.new" "$n/taints"
    elif ! grep -qxF "$taint" "$n/taints"; then
      echo "$taint" >>"$n/taints"
    fi
    ;;
  drain)
    if [[ -n ${FAKE_DRAIN_FAILS-} ]]; then
      touch "$n/unschedulable"
      echo "error: cannot evict pod as it would violate the pod's disruption budget" >&2
      exit 1
    fi
    touch "$n/unschedulable"
    ;;
  uncordon) rm -f "$n/unschedulable" ;;
  wait) ;;
  *) echo "fake kubectl: unsupported: $*" >&2; exit 1 ;;
esac
"""

# kubeadm refuses to upgrade to a version other than its own, like the real one.
KUBEADM = r"""
own=$(<"$S/dpkg/kubeadm")
own=v${own%%-*}
manifest=$PREP_ROOT/etc/kubernetes/manifests/kube-apiserver.yaml
case "$1 $2" in
  "upgrade apply")
    [[ $3 == "$own" ]] || { echo "kubeadm $own cannot upgrade to $3" >&2; exit 1; }
    printf '    image: registry.k8s.io/kube-apiserver:%s\n' "$3" >"$manifest"
    ;;
  "upgrade node")
    if [[ -f $manifest ]]; then printf '    image: registry.k8s.io/kube-apiserver:%s\n' "$own" >"$manifest"; fi
    ;;
  *) echo "fake kubeadm: unsupported: $*" >&2; exit 1 ;;
esac
"""

CRICTL = r"""
case $1 in
  ps) echo 3f2a9c ;;
  exec) mkdir -p "$PREP_ROOT/var/lib/etcd"; echo snapshot >"$PREP_ROOT/var/lib/etcd/upgrade-snapshot.db" ;;
  *) echo "fake crictl: unsupported: $*" >&2; exit 1 ;;
esac
"""


def params(phase: str, role: str = "worker", *, taint: bool = True) -> dict[str, str]:
    return {
        "UPGRADE": "kubernetes",
        "PHASE": phase,
        "NODE_NAME": "gpu-1",
        "ROLE": role,
        "KUBERNETES_VERSION": "1.32.8",
        "KUBERNETES_MINOR": "1.32",
        "KUBERNETES_PACKAGE_REVISION": "1.1",
        "KUBERNETES_APT_REPO": "https://pkgs.k8s.io/core:/stable:/v1.32/deb/",
        "KUBERNETES_APT_KEY_URL": "https://pkgs.k8s.io/core:/stable:/v1.32/deb/Release.key",
        "DRAIN_TAINT": "runai=drain:NoExecute" if taint else "",
        "DRAIN_TIMEOUT": "600s",
        "READY_TIMEOUT": "600s",
    }


@pytest.fixture
def member(tmp_path: Path) -> FakeNode:
    """A cluster member at 1.31.9 with the 1.31 package source."""
    node = FakeNode(tmp_path)
    for name, body in (("kubectl", KUBECTL), ("kubeadm", KUBEADM), ("crictl", CRICTL)):
        node.stand_in(name, body)
    for package in ("kubelet", "kubeadm", "kubectl"):
        (node.state / "dpkg" / package).write_text(OLD + "\n")
        (node.state / "holds" / package).touch()
    kubernetes = node.root / "etc" / "kubernetes"
    (kubernetes / "manifests").mkdir(parents=True)
    (kubernetes / "kubelet.conf").write_text("kind: Config\n")
    (kubernetes / "manifests" / "kube-apiserver.yaml").write_text("    image: registry.k8s.io/kube-apiserver:v1.31.9\n")
    keyrings = node.root / "etc" / "apt" / "keyrings"
    keyrings.mkdir(parents=True)
    (keyrings / "kubernetes-apt-keyring.gpg").write_text("key\n")
    (node.root / "etc" / "apt" / "sources.list.d").mkdir(parents=True)
    (node.root / "etc" / "apt" / "sources.list.d" / "kubernetes.list").write_text(
        "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.31/deb/ /\n"
    )
    return node


def rollout(node: FakeNode, role: str = "worker", **env: str) -> list[Run]:
    return [node.run(SCRIPT, params(phase, role), env) for phase, _ in PHASES]


def node_state(node: FakeNode) -> dict[str, Any]:
    n = node.state / "node"
    return {
        "cordoned": (n / "unschedulable").exists(),
        "taints": (n / "taints").read_text().split(),
        "undo": (n / "undo").read_text() if (n / "undo").exists() else None,
    }


@pytest.mark.process
@pytest.mark.parametrize("phase", [phase for phase, _ in PHASES])
@pytest.mark.parametrize("taint", [True, False])
def test_rendered_phases_are_shellcheck_clean(phase: str, taint: bool) -> None:
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed: install it (apt-get install shellcheck)"
    text = render_script(SCRIPT, params(phase, taint=taint))
    result = subprocess.run([shellcheck, "-s", "bash", "-"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.process
def test_a_worker_upgrades_in_kubeadms_order_then_a_rerun_changes_nothing(member: FakeNode) -> None:
    kubeadm, drain, kubelet, uncordon = rollout(member)

    assert member.read("/etc/apt/sources.list.d/kubernetes.list").strip().endswith("/core:/stable:/v1.32/deb/ /")
    assert kubeadm.called("apt-get", "update")
    assert kubeadm.called("apt-mark", "unhold", "kubeadm")
    assert kubeadm.called("apt-get", "install", f"kubeadm={NEW}")
    assert kubeadm.called("kubeadm", "upgrade", "node")
    assert not kubeadm.called("kubelet") and not kubeadm.called("crictl")
    assert drain.called("kubectl", "taint", "nodes", "gpu-1", "runai=drain:NoExecute")
    assert drain.called("kubectl", "drain", "gpu-1", "--ignore-daemonsets")
    assert kubelet.called("apt-get", "install", f"kubelet={NEW}", f"kubectl={NEW}")
    assert kubelet.called("systemctl", "restart", "kubelet")
    assert uncordon.called("kubectl", "uncordon", "gpu-1")
    assert uncordon.called("kubectl", "taint", "nodes", "gpu-1", "runai=drain:NoExecute-")
    assert "gave back: uncordon untaint recorded" in uncordon.stdout
    for package in ("kubelet", "kubeadm", "kubectl"):
        assert member.installed(package) == NEW
    assert {"kubelet", "kubeadm", "kubectl"} <= member.held()
    assert node_state(member) == {"cordoned": False, "taints": [], "undo": None}

    before = member.snapshot()
    for again in rollout(member):
        assert again.mutating() == [], again.mutating()
        assert "changed: nothing" in again.stdout
    assert member.snapshot() == before


@pytest.mark.process
def test_a_node_under_maintenance_stays_cordoned_and_tainted(member: FakeNode) -> None:
    # An operator put the node in maintenance: the rollout must give back only
    # what it took, which here is nothing.
    (member.state / "node").mkdir()
    (member.state / "node" / "unschedulable").touch()
    (member.state / "node" / "taints").write_text("runai=drain:NoExecute\n")
    *_, uncordon = rollout(member)
    assert not uncordon.called("kubectl", "uncordon")
    assert not uncordon.called("kubectl", "taint")
    assert node_state(member) == {"cordoned": True, "taints": ["runai=drain:NoExecute"], "undo": None}
    assert member.installed("kubelet") == NEW


@pytest.mark.process
def test_the_first_control_plane_snapshots_etcd_before_upgrade_apply(member: FakeNode) -> None:
    kubeadm, *_ = rollout(member, role="first-control-plane")
    calls = [" ".join(call) for call in kubeadm.calls]
    snapshot = next(i for i, call in enumerate(calls) if call.startswith("crictl exec") and "snapshot save" in call)
    apply = calls.index("kubeadm upgrade apply v1.32.8 --yes")
    assert snapshot < apply
    assert member.read("/var/lib/kubeadm-upgrade/etcd-before-v1.32.8.db") == "snapshot\n"
    assert "kube-apiserver:v1.32.8" in member.read("/etc/kubernetes/manifests/kube-apiserver.yaml")
    again = member.run(SCRIPT, params("kubeadm", "first-control-plane"))
    assert again.mutating() == [] and "already at v1.32.8" in again.stdout


@pytest.mark.process
@pytest.mark.parametrize("role", ["first-control-plane", "control-plane"])
def test_kubeadm_upgrade_ignores_the_stacks_ignored_preflight_checks(member: FakeNode, role: str) -> None:
    ignored = {"IGNORE_PREFLIGHT_ERRORS": "HTTPProxyCIDR,SystemVerification"}
    run = member.run(SCRIPT, params("kubeadm", role), ignored)
    command = "kubeadm upgrade apply v1.32.8 --yes" if role == "first-control-plane" else "kubeadm upgrade node"
    assert f"{command} --ignore-preflight-errors=HTTPProxyCIDR,SystemVerification" in [
        " ".join(call) for call in run.calls
    ]


@pytest.mark.process
def test_a_failed_drain_stops_the_node_and_a_rerun_resumes_it(member: FakeNode) -> None:
    member.run(SCRIPT, params("kubeadm"))
    failed = member.execute(SCRIPT, params("drain"), {"FAKE_DRAIN_FAILS": "1"})
    assert failed.returncode != 0
    assert "disruption budget" in failed.stderr
    # Stopped with the old kubelet still serving; the record survives.
    assert member.installed("kubelet") == OLD
    assert node_state(member)["undo"] == "uncordon untaint recorded"

    *_, uncordon = rollout(member)
    assert "gave back: uncordon untaint recorded" in uncordon.stdout
    assert node_state(member) == {"cordoned": False, "taints": [], "undo": None}
    assert member.installed("kubelet") == NEW


@pytest.mark.process
def test_a_wrong_minor_is_refused_before_anything_runs(member: FakeNode) -> None:
    result = member.execute(SCRIPT, {**params("kubeadm"), "KUBERNETES_MINOR": "1.31"})
    assert result.returncode != 0
    assert "KUBERNETES_VERSION '1.32.8' is not in minor '1.31'" in result.stderr
    assert member.installed("kubeadm") == OLD


# --- the rollout graph ---------------------------------------------------------


def test_control_planes_one_at_a_time_then_each_pool_wave_by_wave() -> None:
    settings = fixture("production")
    settings["cluster"]["upgrade"] = {"maxUnavailable": 4, "pools": {"dev": {"maxUnavailable": 1}}}
    recorded, _ = run_program(settings, stack="prod")
    stages = upgrade_stages_of(settings)
    assert stages["controlPlanes"] == ["prod-cp-1", "prod-cp-2", "prod-cp-3"]
    pools = {pool: planned["waves"] for pool, planned in stages["pools"].items()}
    assert pools == {
        "default": [["prod-sys-1", "prod-sys-2"]],
        "prod": [[f"prod-gpu-{i}" for i in range(1, 5)], ["prod-gpu-5", "prod-gpu-6"]],
        "dev": [["prod-gpu-7"], ["prod-gpu-8"]],
    }

    def urn(name: str) -> str:
        return recorded.by_name(f"{name}-kubernetes-upgrade").urn

    for previous, current in itertools.pairwise(stages["controlPlanes"]):
        assert recorded.resources[urn(current)].dependencies == [urn(previous)]
    planes_done = urn("prod-cp-3")
    upgrades = {urn(name) for waves in pools.values() for wave in waves for name in wave}
    for pool, waves in pools.items():
        # The first wave right after the control planes, whatever the other pools do.
        for name in waves[0]:
            assert planes_done in recorded.resources[urn(name)].dependencies
        for index, (previous, wave) in enumerate(itertools.pairwise(waves), 1):
            ended = recorded.by_name(f"gpu-prod-upgrade-{pool}-wave-{index}")
            assert set(ended.dependencies) == {urn(name) for name in previous}
            for name in wave:
                dependencies = recorded.resources[urn(name)].dependencies
                assert ended.urn in dependencies
                assert recorded.by_name(f"{name}-join").urn in dependencies
                assert not upgrades & set(dependencies), name  # no node waits on another node
    # A wave's end runs nothing and never changes.
    ended = recorded.by_name("gpu-prod-upgrade-prod-wave-2")
    assert {key: value for key, value in ended.inputs.items() if key != "__provider"} == {"pool": "prod", "wave": 2}
    assert recorded.by_name("gpu-prod-upgrade").outputs["stages"] == stages


def test_a_worker_in_maintenance_is_left_alone_until_it_leaves() -> None:
    settings = fixture("production")
    held = next(node for node in settings["nodes"] if node["name"] == "prod-gpu-3")
    held["maintenance"] = True
    recorded, _ = run_program(settings, stack="prod")
    stages = upgrade_stages_of(settings)
    assert stages["inMaintenance"] == ["prod-gpu-3"]
    assert "prod-gpu-3" not in str(stages["pools"])
    upgrade = recorded.by_name("prod-gpu-3-kubernetes-upgrade")
    # Its steps keep what the machine ran last; leaving maintenance brings the new ones.
    assert upgrade.ignore_changes == ["create_steps", "kubernetes_version"]
    assert set(upgrade.dependencies) == {
        recorded.by_name("prod-cp-3-kubernetes-upgrade").urn,
        recorded.by_name("prod-gpu-3-join").urn,
    }
    assert recorded.by_name("prod-gpu-4-kubernetes-upgrade").ignore_changes == []
    flannel = recorded.by_name("gpu-prod-cni-flannel").urn
    assert recorded.reaches(flannel, upgrade.urn)


def test_upgrade_resources_carry_the_version_and_run_nothing_on_create(prod: Recorded) -> None:
    first = prod.by_name("prod-cp-1-kubernetes-upgrade").inputs
    assert first["run_on_create"] is False
    version = fixture("production")["cluster"]["kubernetesVersion"]
    assert first["kubernetes_version"] == version
    assert [(s["name"], s["on"]) for s in first["create_steps"]] == [
        ("kubeadm", "node"),
        ("drain", "first-control-plane"),
        ("kubelet", "node"),
        ("uncordon", "first-control-plane"),
    ]
    assert "ROLE=first-control-plane" in first["create_steps"][0]["script"]
    assert f"KUBERNETES_VERSION={version}" in first["create_steps"][0]["script"]
    assert first["env"]["DRAIN_TAINT"] == "runai=drain:NoExecute"  # prod schedules with Run:ai
    assert "ROLE=control-plane" in prod.by_name("prod-cp-2-kubernetes-upgrade").inputs["create_steps"][0]["script"]
    # The pod network (and every layer after it) waits for the whole rollout
    # and every join, through the rollout's ends.
    flannel = prod.by_name("gpu-prod-cni-flannel")
    scripts = prod.of_type("pulumi-python:dynamic:Resource")
    waited = {r.urn for r in scripts if r.name.endswith(("-kubernetes-upgrade", "-join", "-kubeadm-init"))}
    assert len(waited) == 13 + 13
    assert all(prod.reaches(flannel.urn, urn) for urn in waited)
    ends = {
        prod.by_name(f"gpu-prod-upgrade-{pool}-wave-{n}").urn for pool, n in (("default", 2), ("prod", 6), ("dev", 2))
    }
    assert set(flannel.dependencies) == ends | {prod.by_name("prod-cp-3-kubernetes-upgrade").urn}


def test_the_version_bump_changes_only_the_upgrade_resources(prod: Recorded) -> None:
    before = prod
    bumped = fixture("production")
    major, minor, patch = bumped["cluster"]["kubernetesVersion"].split(".")
    bumped["cluster"]["kubernetesVersion"] = f"{major}.{minor}.{int(patch) + 1}"
    after, _ = run_program(bumped, stack="prod")
    changed = sorted(
        name
        for name, registration in ((r.name, r) for r in after.of_type("pulumi-python:dynamic:Resource"))
        if {k: v for k, v in registration.inputs.items() if k != "env"}
        != {k: v for k, v in before.by_name(name).inputs.items() if k != "env"}
    )
    assert changed == sorted(f"{name}-kubernetes-upgrade" for name in (node["name"] for node in bumped["nodes"]))


def upgrade_stages_of(settings: dict[str, Any]) -> dict[str, Any]:
    return upgrade_stages(StackConfig.model_validate(settings))


# --- the host driver's rollout -------------------------------------------------

DRIVER_OLD, DRIVER_NEW = "570.172.08-0ubuntu1", "580.95.05-0ubuntu1"


def driver_params(phase: str) -> dict[str, str]:
    return {
        **params(phase),
        "UPGRADE": "nvidia-driver",
        "NVIDIA_DRIVER_PACKAGE": "nvidia-driver-580-server",
        "NVIDIA_DRIVER_VERSION": DRIVER_NEW,
    }


@pytest.fixture
def gpu_member(member: FakeNode) -> FakeNode:
    (member.state / "dpkg" / "nvidia-driver-580-server").write_text(DRIVER_OLD + "\n")
    (member.state / "holds" / "nvidia-driver-580-server").touch()
    module = member.root / "sys" / "module" / "nvidia"
    module.mkdir(parents=True)
    (module / "version").write_text("570.172.08\n")
    member.stand_in("systemd-run", "")  # the reboot it schedules is the test's to play
    return member


def reboot(node: FakeNode) -> None:
    (node.state / "boot-id").write_text("boot-2\n")
    (node.root / "sys" / "module" / "nvidia" / "version").write_text("580.95.05\n")


@pytest.mark.process
def test_a_driver_rolls_out_drained_and_rebooted_then_a_rerun_changes_nothing(gpu_member: FakeNode) -> None:
    drain = gpu_member.run(SCRIPT, driver_params("drain"))
    assert drain.called("kubectl", "drain", "gpu-1")
    driver = gpu_member.run(SCRIPT, driver_params("driver"))
    assert driver.called("apt-get", "install", f"nvidia-driver-580-server={DRIVER_NEW}")
    assert driver.called("systemd-run", "systemctl", "reboot")
    assert driver.stdout.strip() == "rebooting"  # its whole standard output: the captured verdict
    reboot(gpu_member)
    uncordon = gpu_member.run(SCRIPT, driver_params("uncordon"), {"REBOOT": "rebooting"})
    assert uncordon.called("kubectl", "uncordon", "gpu-1")
    assert (gpu_member.state / "node" / "driver").read_text() == f"nvidia-driver-580-server={DRIVER_NEW}"
    assert node_state(gpu_member) == {"cordoned": False, "taints": [], "undo": None}
    assert "nvidia-driver-580-server" in gpu_member.held()

    before = gpu_member.snapshot()
    for phase in ("drain", "driver", "uncordon"):
        again = gpu_member.run(SCRIPT, driver_params(phase), {"REBOOT": "loaded"})
        assert again.mutating() == [], (phase, again.mutating())
    assert gpu_member.run(SCRIPT, driver_params("driver")).stdout.strip() == "loaded"
    assert gpu_member.snapshot() == before


@pytest.mark.process
def test_uncordon_waits_for_the_reboot_and_gives_up_when_none_comes(gpu_member: FakeNode) -> None:
    gpu_member.run(SCRIPT, driver_params("drain"))
    gpu_member.run(SCRIPT, driver_params("driver"))
    gpu_member.stand_in("sleep", "")
    stuck = gpu_member.execute(SCRIPT, {**driver_params("uncordon"), "READY_TIMEOUT": "30s"}, {"REBOOT": "rebooting"})
    assert stuck.returncode != 0
    assert "gave up after 30s waiting for the machine to come back from its reboot" in stuck.stderr
    assert node_state(gpu_member)["cordoned"]  # left drained, the rest of the cluster serving


@pytest.mark.process
def test_node_prep_leaves_a_members_driver_to_the_rollout(gpu_member: FakeNode) -> None:
    gpu_host = SCRIPT.parents[1] / "node_prep" / "gpu-host.sh"
    driver = {"NVIDIA_DRIVER_PACKAGE": "nvidia-driver-580-server", "NVIDIA_DRIVER_VERSION": DRIVER_NEW}
    run = gpu_member.run(gpu_host, {"CONTAINERD_CONFIG_VERSION": "2"}, driver)
    assert not run.called("apt-get", "install")
    assert "a member's driver is the rollout's to change" in run.stdout
    assert gpu_member.installed("nvidia-driver-580-server") == DRIVER_OLD


def driver_settings() -> dict[str, Any]:
    settings = fixture("production")
    settings.setdefault("packages", {}).setdefault("nvidia", {})["driverVersion"] = DRIVER_OLD
    return settings


@pytest.fixture(scope="module")
def driver_prod() -> Recorded:
    """What prod registers with the driver on the host at an exact version."""
    return run_program(driver_settings(), stack="prod")[0]


def test_a_gpu_workers_driver_follows_its_kubernetes_upgrade_in_its_wave(driver_prod: Recorded) -> None:
    recorded = driver_prod
    scripts = recorded.of_type("pulumi-python:dynamic:Resource")
    drivers = [r for r in scripts if r.name.endswith("-nvidia-driver-upgrade")]
    assert sorted(r.name for r in drivers) == [f"prod-gpu-{i}-nvidia-driver-upgrade" for i in range(1, 9)]
    for driver in drivers:
        node = driver.name.removesuffix("-nvidia-driver-upgrade")
        assert driver.dependencies == [recorded.by_name(f"{node}-kubernetes-upgrade").urn]
    # The wave ends after the drivers: the next node drains once this one is back.
    ended = recorded.by_name("gpu-prod-upgrade-prod-wave-1")
    assert ended.dependencies == [recorded.by_name("prod-gpu-1-nvidia-driver-upgrade").urn]
    assert ended.urn in recorded.by_name("prod-gpu-2-kubernetes-upgrade").dependencies
    assert upgrade_stages_of(driver_settings())["hostDriver"] is True
    steps = drivers[0].inputs["create_steps"]
    assert [(s["name"], s["on"], s.get("capture")) for s in steps] == [
        ("drain", "first-control-plane", None),
        ("driver", "node", "REBOOT"),
        ("uncordon", "first-control-plane", None),
    ]
    assert drivers[0].inputs["run_on_create"] is False
    prep = recorded.by_name("prod-gpu-1-prep").inputs
    assert prep["env"]["NVIDIA_DRIVER_VERSION"] == DRIVER_OLD
    assert DRIVER_OLD not in str(prep["create_steps"])


def test_a_driver_bump_changes_only_the_driver_rollout(driver_prod: Recorded) -> None:
    before = driver_prod
    bumped = driver_settings()
    bumped["packages"]["nvidia"]["driverVersion"] = DRIVER_NEW
    after, _ = run_program(bumped, stack="prod")
    changed = sorted(
        r.name
        for r in after.of_type("pulumi-python:dynamic:Resource")
        if {k: v for k, v in r.inputs.items() if k != "env"}
        != {k: v for k, v in before.by_name(r.name).inputs.items() if k != "env"}
    )
    assert changed == sorted(f"prod-gpu-{i}-nvidia-driver-upgrade" for i in range(1, 9))


@pytest.mark.process
@pytest.mark.parametrize("phase", ["drain", "driver", "uncordon"])
def test_rendered_driver_phases_are_shellcheck_clean(phase: str) -> None:
    text = render_script(SCRIPT, driver_params(phase))
    result = subprocess.run(["shellcheck", "-s", "bash", "-"], input=text, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
