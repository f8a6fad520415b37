"""A cluster built by `pulumi up` on real machines: node preparation from the
site's package mirror, kubeadm init and joins with images from the site's
registry, pods on every worker reaching each other and a Service; then day
two, as an operator would do it, one step after another on the same lab,
ending with a backup taken by the stack's CronJob restored onto a fresh
machine."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from typing import Any

from tests.machines.conftest import Lab, failure, ready, wait_until
from tools.lab import site
from tools.lab.machines import Machine, MachineSpec
from tools.lab.machines_lab import KUBERNETES_VERSION, S3_PORT, layout
from tools.lab.network import HOST_ADDRESS
from tools.lab.s3 import BUCKET, CREDENTIALS

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


def test_a_machine_restarted_mid_join_converges_on_a_rerun(lab: Lab) -> None:
    lab.specs = layout(5)
    lab.lab.ensure_machines(lab.specs)
    joining = lab.machine("lab-cpu-3")
    restarted = threading.Event()

    def restart_once_joining() -> None:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            if joining.run("pgrep", "-f", "kubeadm join").returncode == 0:
                lab.lab.stop_machine("lab-cpu-3")
                lab.lab.ensure_machines(lab.specs)
                restarted.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=restart_once_joining, daemon=True)
    watcher.start()
    first = lab.up()
    watcher.join()
    assert restarted.is_set(), "kubeadm join never ran on lab-cpu-3"
    result = lab.up()
    assert result.returncode == 0, f"first run exit {first.returncode}; the re-run:\n{failure(result)}"
    assert ready(lab.nodes()["lab-cpu-3"])


def test_a_backup_from_the_control_plane_restores_into_a_fresh_machine(lab: Lab) -> None:
    kept = config_map("taken-before-the-backup")
    lab.apply(kept)
    # The CronJob runs every six hours: a Job from it now, as before a risky change.
    lab.kubectl("create", "job", "-n", "kube-system", "--from=cronjob/runai-cluster-etcd-backup", "backup-now")
    done = lab.kubectl("wait", "-n", "kube-system", "--for=condition=Complete", "job/backup-now", "--timeout=300s",
                       check=False)  # fmt: skip
    assert done.returncode == 0, lab.kubectl("logs", "-n", "kube-system", "job/backup-now", check=False).stdout
    lab.apply(config_map("made-after-the-backup"))

    # A fresh machine: the backup's PKI and etcd data restored onto it by the
    # operators' tool, then etcd and the API server started from them.
    fresh = MachineSpec("lab-restored", 9, ["control-plane"])
    lab.lab.ensure_machines([*lab.specs, fresh])
    machine = lab.machine(fresh.name)
    store = ["--s3-endpoint", f"http://{HOST_ADDRESS}:{S3_PORT}", "--bucket", BUCKET, "--prefix", "lab"]
    restore = subprocess.run(
        [sys.executable, "-m", "tools.backup", "restore", *store,
         "--data-dir", str(machine.root / "var/lib/etcd"), "--pki-dir", str(machine.root / "etc/kubernetes"),
         "--etcdutl", str(lab.lab.kubernetes_dir / "etcdutl"),
         "--member-name", fresh.name, "--peer-url", f"https://{fresh.address}:2380"],
        env={**os.environ, "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
             "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"]},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr
    start_control_plane(lab, machine, fresh)

    def restored(*args: str) -> subprocess.CompletedProcess[str]:
        admin = lab.machine("lab-cp-1").root / "etc/kubernetes/admin.conf"
        return subprocess.run(
            [str(lab.lab.kubernetes_dir / "kubectl"), f"--kubeconfig={admin}", f"--server=https://{fresh.address}:6443",
             "--tls-server-name=kubernetes", *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip

    wait_until(lambda: restored("get", "--raw", "/readyz").returncode == 0, "the restored API server", 120)
    names = restored("get", "configmaps", "-n", "default", "-o", "name").stdout.split()
    assert "configmap/taken-before-the-backup" in names and "configmap/made-after-the-backup" not in names, names
    assert {f"node/{spec.name}" for spec in lab.specs} <= set(restored("get", "nodes", "-o", "name").stdout.split())


def config_map(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}}


def start_control_plane(lab: Lab, machine: Machine, spec: MachineSpec) -> None:
    """etcd and kube-apiserver from the restored data and PKI, with the
    flags kubeadm gives them (the lab's binaries, run by the machine's systemd)."""
    for binary in ("etcd", "kube-apiserver"):
        shutil.copy2(lab.lab.kubernetes_dir / binary, machine.root / "usr/local/bin" / binary)
    pki = "/etc/kubernetes/pki"
    etcd = [
        "/usr/local/bin/etcd", f"--name={spec.name}", "--data-dir=/var/lib/etcd",
        "--listen-client-urls=https://127.0.0.1:2379", "--advertise-client-urls=https://127.0.0.1:2379",
        f"--listen-peer-urls=https://{spec.address}:2380", f"--cert-file={pki}/etcd/server.crt",
        f"--key-file={pki}/etcd/server.key", f"--trusted-ca-file={pki}/etcd/ca.crt", "--client-cert-auth",
        f"--peer-cert-file={pki}/etcd/peer.crt", f"--peer-key-file={pki}/etcd/peer.key",
        f"--peer-trusted-ca-file={pki}/etcd/ca.crt", "--peer-client-cert-auth",
    ]  # fmt: skip
    server = [
        "/usr/local/bin/kube-apiserver", f"--advertise-address={spec.address}", "--secure-port=6443",
        "--etcd-servers=https://127.0.0.1:2379", f"--etcd-cafile={pki}/etcd/ca.crt",
        f"--etcd-certfile={pki}/apiserver-etcd-client.crt", f"--etcd-keyfile={pki}/apiserver-etcd-client.key",
        f"--client-ca-file={pki}/ca.crt", f"--tls-cert-file={pki}/apiserver.crt",
        f"--tls-private-key-file={pki}/apiserver.key", "--authorization-mode=Node,RBAC",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={pki}/sa.pub", f"--service-account-signing-key-file={pki}/sa.key",
        "--service-cluster-ip-range=10.96.0.0/12",
    ]  # fmt: skip
    for unit, command in (("restored-etcd", etcd), ("restored-apiserver", server)):
        started = machine.run("systemd-run", f"--unit={unit}", *command)
        assert started.returncode == 0, started.stderr
