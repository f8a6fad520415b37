"""A cluster built by `pulumi up` on real machines: node preparation from the
site's package mirror, kubeadm init and joins with images from the site's
registry, pods on every worker reaching each other and a Service; then day
two, as an operator would do it, one step after another on the same lab."""

from __future__ import annotations

from typing import Any

from tests.machines.conftest import Lab, failure, ready, wait_until
from tools.lab import site
from tools.lab.machines_lab import KUBERNETES_VERSION, layout

NAMESPACE = "lab-smoke"


def etcd_image(lab: Lab) -> str:
    return f"{site.IMAGE_REPOSITORY}/etcd:{site.versions(lab.lab.kubernetes_dir)['ETCD_VERSION']}"


def probe_pod(node: str, image: str) -> dict[str, Any]:
    """A pod that serves (etcd) and can ask (etcdctl): the site's images are
    the ones kubeadm deploys, and etcd's does both."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"probe-{node}", "namespace": NAMESPACE, "labels": {"probe": node}},
        "spec": {
            "nodeName": node,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "etcd",
                    "image": image,
                    "command": [
                        "etcd",
                        "--data-dir=/tmp/etcd",
                        "--listen-client-urls=http://0.0.0.0:2379",
                        "--advertise-client-urls=http://127.0.0.1:2379",
                    ],
                    "readinessProbe": {"httpGet": {"path": "/health", "port": 2379}},
                }
            ],
        },
    }


def probe_service(node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": f"probe-{node}", "namespace": NAMESPACE},
        "spec": {"selector": {"probe": node}, "ports": [{"port": 2379, "targetPort": 2379}]},
    }


def health(lab: Lab, pod: str, address: str) -> str:
    result = lab.kubectl(
        "exec", "-n", NAMESPACE, pod, "--", "etcdctl", f"--endpoints=http://{address}:2379",
        "--dial-timeout=5s", "endpoint", "health", check=False,
    )  # fmt: skip
    return result.stdout + result.stderr


def test_fresh_up_builds_a_cluster_then_changes_nothing(lab: Lab) -> None:
    result = lab.up()
    assert result.returncode == 0, failure(result)

    nodes = lab.nodes()
    assert sorted(nodes) == sorted(spec.name for spec in lab.specs)
    for name, node in nodes.items():
        assert ready(node), f"{name} is not Ready"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == f"v{KUBERNETES_VERSION}"
        assert node["status"]["nodeInfo"]["osImage"].startswith("Debian GNU/Linux 12")
    assert nodes["lab-gpu-1"]["status"]["capacity"]["nvidia.com/gpu"] == "2"
    lab.wait_ready("pods", "--all", "-n", "kube-system")

    # A pod on each worker, from the site's registry; pods on different
    # machines reach each other, and a Service's ClusterIP.
    workers = [spec.name for spec in lab.specs if "control-plane" not in spec.roles]
    lab.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    lab.apply(*(probe_pod(node, etcd_image(lab)) for node in workers), probe_service(workers[0]))
    lab.wait_ready("pods", "--all", "-n", NAMESPACE)
    pods = {p["spec"]["nodeName"]: p for p in lab.json("get", "pods", "-n", NAMESPACE)["items"]}
    assert sorted(pods) == sorted(workers)
    target = pods[workers[0]]["status"]["podIP"]
    cluster_ip = lab.json("get", "service", "-n", NAMESPACE, f"probe-{workers[0]}")["spec"]["clusterIP"]
    asker = f"probe-{workers[1]}"
    assert "is healthy" in health(lab, asker, target)
    assert "is healthy" in health(lab, asker, cluster_ip)
    # Bare pods would (rightly) stop a drain when a machine leaves later.
    lab.kubectl("delete", "namespace", NAMESPACE, "--wait=true")

    # The second run has nothing to do.
    planned = lab.changes()
    assert not planned, [(step["op"], step["urn"], step.get("diffs")) for step in planned]


def test_an_added_machine_previews_as_its_own_creates_then_joins(lab: Lab) -> None:
    lab.specs = layout(4)
    lab.lab.ensure_machines(lab.specs)
    planned = lab.changes()
    assert planned, "adding a machine changes nothing"
    assert {step["op"] for step in planned} == {"create"}, [(s["op"], s["urn"]) for s in planned]
    # The machine's own resources, and the upgrade wave its pool gains (10%
    # of two workers rounds to one node per wave).
    others = [s["urn"] for s in planned if "lab-cpu-2" not in s["urn"] and not s["urn"].endswith("-default-wave-2")]
    assert not others, others

    result = lab.up()
    assert result.returncode == 0, failure(result)
    assert ready(lab.nodes()["lab-cpu-2"])


def test_maintenance_puts_the_drain_taint_on(lab: Lab) -> None:
    lab.lab.node_settings["lab-cpu-2"] = {"maintenance": True}
    result = lab.up()
    assert result.returncode == 0, failure(result)
    taints = lab.nodes()["lab-cpu-2"]["spec"].get("taints", [])
    assert {"key": "runai", "value": "drain", "effect": "NoExecute"} in taints, taints


def test_a_removed_machine_is_drained_reset_and_deleted(lab: Lab) -> None:
    lab.lab.node_settings.pop("lab-cpu-2", None)
    lab.specs = layout(3)
    result = lab.up()
    assert result.returncode == 0, failure(result)
    assert "lab-cpu-2" not in lab.nodes()
    gone = lab.machine("lab-cpu-2")
    assert not (gone.root / "etc/kubernetes/kubelet.conf").exists(), "kubeadm reset did not run"
    lab.lab.stop_machine("lab-cpu-2")


def test_a_reinstalled_machine_is_prepared_again_and_rejoins(lab: Lab) -> None:
    before = lab.nodes()["lab-cpu-1"]["metadata"]["labels"]
    lab.lab.stop_machine("lab-cpu-1", wipe=True)  # a fresh OS, a new host key
    # A real reinstall outlasts the node monitor's grace period: the old Node
    # is NotReady by the time the machine comes back (a Ready Node of that
    # name is refused, as another machine's would be).
    wait_until(lambda: not ready(lab.nodes()["lab-cpu-1"]), "the old lab-cpu-1 NotReady")
    lab.lab.node_settings["lab-cpu-1"] = {"generation": 1}
    result = lab.up()
    assert result.returncode == 0, failure(result)
    node = lab.nodes()["lab-cpu-1"]
    assert ready(node)
    assert before.items() <= node["metadata"]["labels"].items()


def test_a_machine_unreachable_over_ssh_fails_naming_it_then_a_rerun_converges(lab: Lab) -> None:
    lab.specs = layout(4)
    lab.lab.ensure_machines(lab.specs)
    silent = lab.machine("lab-cpu-2")
    silent.run("systemctl", "stop", "ssh.socket", "ssh.service")
    failed = lab.up()
    assert failed.returncode != 0
    assert "lab-cpu-2" in failed.stdout + failed.stderr

    silent.run("systemctl", "start", "ssh.service")
    result = lab.up()
    assert result.returncode == 0, failure(result)
    assert ready(lab.nodes()["lab-cpu-2"])
