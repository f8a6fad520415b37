"""Three control planes behind the site's load balancer (Debian's haproxy on
the lab network): a patch upgrade rolls every node with the API answering
throughout, certificates are renewed on each control plane when the
renewal window takes them in, the API keeps answering with one control plane
off, and `destroy` leaves every machine reset. The tests run in file order."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.machines.conftest import UPGRADE_TO, Lab, failure, lab_of, ready, wait_until
from tools.lab.machines_lab import KUBERNETES_VERSION, layout, pulumi, stack_work
from tools.lab.network import BALANCER_ADDRESS

PLANES = ["lab-cp-1", "lab-cp-2", "lab-cp-3"]


@pytest.fixture(scope="module")
def ha(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from lab_of(tmp_path_factory, layout(4, control_planes=3), (KUBERNETES_VERSION, UPGRADE_TO))


# What a server under a restart answers that a client is meant to retry.
_TRANSIENT = ("Timeout", "deadline exceeded", "etcdserver: leader changed")


class ApiWatch:
    """Asks the API (through the balancer) for an object twice a second and
    keeps the moments it did not answer. Not /readyz: a server shutting down
    fails it on purpose, so that the balancer drains it, while still serving.
    A request refused or cut off is a failure; one not answered within its
    10 s (an etcd member restarting, on two shared cores), or answered with
    etcd's "leader changed" (the request met an election as the leader's
    member restarted: the server asks the client to try again) is counted
    apart. With a copy of the administrator's kubeconfig: a renewal rewrites
    it."""

    def __init__(self, lab: Lab) -> None:
        self.failures: list[tuple[str, str]] = []
        self.slow: list[tuple[str, str]] = []
        self.asked = 0
        kubeconfig = lab.lab.directory / "watch-admin.conf"
        shutil.copyfile(lab.machine("lab-cp-1").root / "etc/kubernetes/admin.conf", kubeconfig)
        self.kubectl = [str(lab.lab.kubernetes_dir / "kubectl"), f"--kubeconfig={kubeconfig}"]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        ask = [*self.kubectl, "get", "--raw", "/api/v1/namespaces/default", "--request-timeout=10s"]
        while not self.done.wait(0.5):
            self.asked += 1
            result = subprocess.run(ask, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                said = (time.strftime("%H:%M:%S"), result.stderr.strip()[-200:])
                transient = any(sign in said[1] for sign in _TRANSIENT)
                (self.slow if transient else self.failures).append(said)

    def __enter__(self) -> ApiWatch:
        self.thread.start()
        return self

    def answered(self) -> None:
        """Every request answered, at most one in a hundred late or asked to retry."""
        assert self.asked > 10 and not self.failures, self.failures
        assert len(self.slow) <= self.asked // 100, f"{len(self.slow)} of {self.asked} late or retried: {self.slow}"

    def __exit__(self, *_: object) -> None:
        self.done.set()
        self.thread.join()


def expiry(ha: Lab) -> dict[str, dt.datetime]:
    """The stack output `certificateExpiry`: the earliest per control plane."""
    result = pulumi(stack_work(ha.lab, ha.specs), "stack", "output", "certificateExpiry", "--json", capture=True)
    assert result.returncode == 0, failure(result)
    return {name: dt.datetime.fromisoformat(when) for name, when in json.loads(result.stdout).items()}


def test_three_control_planes_behind_the_balancer(ha: Lab) -> None:
    result = ha.up()
    assert result.returncode == 0, failure(result)
    nodes = ha.nodes()
    assert sorted(name for name in nodes if name.startswith("lab-cp-")) == PLANES
    assert all(ready(node) for node in nodes.values())
    server = ha.kubectl("config", "view", "-o", "jsonpath={.clusters[0].cluster.server}").stdout
    assert server == f"https://{BALANCER_ADDRESS}:6443"


def test_a_patch_upgrade_rolls_every_node_with_the_api_answering(ha: Lab) -> None:
    ha.lab.kubernetes_version = UPGRADE_TO
    with ApiWatch(ha) as watch:
        result = ha.up()
    assert result.returncode == 0, failure(result)
    for name, node in ha.nodes().items():
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{UPGRADE_TO}", name
        assert not node["spec"].get("unschedulable"), f"{name} left cordoned"
    servers = ha.json("get", "pods", "-n", "kube-system", "-l", "component=kube-apiserver")["items"]
    assert {pod["spec"]["containers"][0]["image"].rsplit(":", 1)[1] for pod in servers} == {f"v{UPGRADE_TO}"}
    watch.answered()
    planned = ha.changes()
    assert not planned, [(step["op"], step["urn"], step.get("diffs")) for step in planned]


def test_certificates_due_are_renewed_on_each_control_plane(ha: Lab) -> None:
    before = expiry(ha)
    assert sorted(before) == PLANES
    # The site moves to two-year certificates and renews any expiring within
    # 400 days: kubeadm's one-year certificates are all due now.
    ha.lab.cluster_settings["certificates"] = {"validityDays": 730, "renewWithinDays": 400}
    planned = {step["urn"].rsplit("::", 1)[1]: step["op"] for step in ha.changes()}
    assert {name: planned.get(f"{name}-certificates") for name in PLANES} == dict.fromkeys(PLANES, "update"), planned
    with ApiWatch(ha) as watch:
        result = ha.up()
    assert result.returncode == 0, failure(result)
    now = dt.datetime.now(dt.UTC)
    for name, when in expiry(ha).items():
        assert when - now > dt.timedelta(days=700), f"{name}: earliest certificate still expires {when}"
    watch.answered()
    planned_again = ha.changes()
    assert not planned_again, [(step["op"], step["urn"], step.get("diffs")) for step in planned_again]


def test_the_api_keeps_answering_with_one_control_plane_off(ha: Lab) -> None:
    ha.lab.stop_machine("lab-cp-2")
    # Through the balancer: a request may meet the stopped server once
    # before haproxy's health check takes it out.
    wait_until(lambda: ha.kubectl("get", "--raw", "/readyz", check=False).returncode == 0, "API through the balancer")
    for _ in range(10):
        assert ha.kubectl("get", "nodes", check=False).returncode == 0


def test_destroy_leaves_the_machines_reset(ha: Lab) -> None:
    ha.lab.ensure_machines(ha.specs)  # lab-cp-2 back on: every machine takes part
    work = stack_work(ha.lab, ha.specs)
    result = pulumi(work, "destroy", "--yes", "--skip-preview", capture=True)
    assert result.returncode == 0, failure(result)
    for machine in ha.lab.machines():
        assert not (machine.root / "etc/kubernetes/kubelet.conf").exists(), f"{machine.spec.name} was not reset"
