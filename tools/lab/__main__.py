"""The local labs, and `pulumi up` of the `lab` stack onto them.

    python -m tools.lab up [--machines 3] [--control-planes 1]
                                           the machines lab (tools/lab/machines_lab.py):
                                           real machines, kubeadm, our node preparation;
                                           3 control planes go behind a load balancer
    python -m tools.lab up --fast [--hosts 4]
                                           the fast lab: SSH hosts and a bare API server
    python -m tools.lab status             what runs, the Nodes and their pods
    python -m tools.lab down               pulumi destroy, then stop everything

The fast lab's hosts are OpenSSH servers on loopback addresses 127.0.0.11,
.12, ...; its control plane is etcd, kube-apiserver and
kube-controller-manager on 127.0.0.1, with `bootstrap: existing`. It serves
the tests that need real objects but no kubelet: labels, taints and pools,
the policy pack, the organisation's objects, state and drift.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stacks.addons import layers_off
from tools.go_cache import built
from tools.lab.control_plane import ControlPlane
from tools.lab.crds import queue_crd
from tools.lab.machines_lab import KUBERNETES_VERSION, machines_down, machines_status, machines_up
from tools.lab.s3 import BUCKET, CREDENTIALS, start_s3
from tools.lab.sshd import free_port, keygen, start_sshd
from tools.stackrun import ROOT, STATE, checked, engine_env, init_stack, policy_args, workdir

PROJECT = "runai-cluster"
STACK = "lab"
DEFAULT_DIR = ROOT / ".lab"
MACHINES_DIR = ROOT / ".lab-machines"
# The KAI path's per-project node selectors need PodNodeSelector.
ADMISSION_PLUGINS = ["PodNodeSelector"]


@dataclass
class LabState:
    """What `up` started, kept in <dir>/state.json for `status` and `down`."""

    api_port: int
    etcd_port: int
    ssh_port: int
    binaries: str
    pids: dict[str, int] = field(default_factory=dict)
    hosts: list[dict[str, Any]] = field(default_factory=list)
    s3_port: int = 0

    @classmethod
    def load(cls, directory: Path) -> LabState | None:
        path = directory / "state.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def control_plane(self, directory: Path) -> ControlPlane:
        return ControlPlane(Path(self.binaries), directory / "control-plane", self.api_port, self.etcd_port)

    def save(self, directory: Path) -> None:
        (directory / "state.json").write_text(json.dumps(asdict(self), indent=2))


def alive(pid: int) -> bool:
    try:
        # A process this one started stays a zombie until reaped.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass  # started by another process (an earlier `make lab`)
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def lab_kubernetes_version() -> str:
    return KUBERNETES_VERSION


def lab_binaries(version: str) -> Path:
    return built("lab_binaries.sh", version)


def host_layout(count: int) -> list[dict[str, Any]]:
    """One control plane, one system node, the rest GPU workers (2 GPUs each)."""
    hosts = []
    for index in range(count):
        if index == 0:
            name, roles, gpus = "lab-cp-1", ["control-plane"], 0
        elif index == 1:
            name, roles, gpus = "lab-sys-1", ["system", "cpu-worker"], 0
        else:
            name, roles, gpus = f"lab-gpu-{index - 1}", ["gpu-worker"], 2
        hosts.append({"name": name, "address": f"127.0.0.{11 + index}", "roles": roles, "gpus": gpus})
    return hosts


def start(directory: Path, count: int, api_port: int, etcd_port: int, ssh_port: int) -> LabState:
    directory.mkdir(parents=True, exist_ok=True)
    state = LabState(api_port, etcd_port, ssh_port, str(lab_binaries(lab_kubernetes_version())))
    try:
        _start_processes(directory, state, count)
    except BaseException:
        stop(directory, state)  # nothing half-started is left running
        raise
    state.save(directory)
    return state


def _start_processes(directory: Path, state: LabState, count: int) -> None:
    _, public = keygen(directory / "id_ed25519")
    for host in host_layout(count):
        server = start_sshd(directory / "hosts" / host["name"], public, host["address"], state.ssh_port)
        state.pids[f"sshd-{host['name']}"] = server.process.pid
        state.hosts.append({**host, "host_key": server.host_key})
    plane = state.control_plane(directory)
    plane.start(ADMISSION_PLUGINS, state.pids)
    for host in state.hosts:
        plane.register_node(host["name"], host["address"], host["gpus"])
    plane.install_crd(queue_crd())
    state.s3_port = free_port()
    state.pids["s3"] = start_s3(directory, state.s3_port)
    (directory / "admin.kubeconfig").write_text(plane.pki.kubeconfig(plane.server, "admin"))


# The organisation the lab deploys on the KAI path: one department over the
# lab pool, two projects with their people.
LAB_ORG: dict[str, Any] = {
    "departments": [
        {
            "name": "research",
            "quotas": {"lab": {"gpu": 4, "cpu": 8, "memoryGb": 32}},
            "access": [{"group": "research-leads", "role": "department-admin"}],
            "projects": [
                {
                    "name": "vision",
                    "quotas": {"lab": {"gpu": 2, "cpu": 4, "memoryGb": 16}},
                    "access": [{"user": "alice@example.com", "role": "researcher"}],
                },
                {
                    "name": "speech",
                    "quotas": {"lab": {"gpu": 2}},
                    "overQuota": False,
                    "access": [{"user": "bob@example.com", "role": "viewer"}],
                },
            ],
        }
    ]
}


def stack_settings(state: LabState, environment: str = "dev") -> dict[str, Any]:
    nodes = []
    for host in state.hosts:
        node: dict[str, Any] = {
            "name": host["name"],
            "address": host["address"],
            "roles": host["roles"],
            "hostKey": host["host_key"],
        }
        if host["gpus"]:
            node |= {"gpu": {"model": "simulated", "count": host["gpus"]}, "nodePool": "lab"}
        nodes.append(node)
    return {
        f"{PROJECT}:cluster": {
            "name": "lab",
            "environment": environment,
            "kubernetesVersion": lab_kubernetes_version(),
            "bootstrap": "existing",
        },
        f"{PROJECT}:ssh": {"user": "root", "port": state.ssh_port, "dialAttempts": 3, "dialRetryDelaySeconds": 1},
        # No container runs in the lab, so the kernel modules containers need
        # are reported but not enforced; the GPUs are the inventory's word.
        f"{PROJECT}:preflight": {
            "gpusSimulated": True,
            "ignore": ["module-overlay", "module-br_netfilter"],
            "minimums": {
                role: {"cpus": 1, "memoryGb": 1, "diskGb": 1}
                for role in ("control-plane", "system", "gpu-worker", "cpu-worker")
            },
        },
        f"{PROJECT}:nodes": nodes,
        # No container runs in the lab and no chart repository is reachable:
        # the layers are treated as present, as on an existing cluster.
        f"{PROJECT}:addons": layers_off(),
        # The lab's API server has a stand-in Queue CRD instead of the chart.
        f"{PROJECT}:scheduler": {"kind": "kai", "kai": {"installChart": False}},
        f"{PROJECT}:org": LAB_ORG,
        # The department's NFS share, bound into its projects (no NFS server
        # is needed until a pod mounts it, and none runs here).
        f"{PROJECT}:storage": {
            "shares": [
                {"department": "research", "name": "datasets", "server": "127.0.0.1", "path": "/exports/research"}
            ]
        },
        # Backups to the lab's S3 (the CronJob lands; no kubelet runs it).
        f"{PROJECT}:backup": {
            "enabled": True,
            "schedule": "0 */6 * * *",
            "image": "runai-cluster-backup:0.1.0",
            "s3": {"endpoint": f"http://127.0.0.1:{state.s3_port}", "bucket": BUCKET, "prefix": "lab"},
        },
    }


def stack_workdir(
    directory: Path, state: LabState, settings: dict[str, Any] | None = None, work_name: str = STACK
) -> Path:
    """The project copy `pulumi` runs in, under `work_name` (a tier of its own
    takes its own name, so two tiers never rewrite one copy)."""
    work = workdir(STACK, settings=settings or stack_settings(state), name=work_name)
    init_stack(
        work,
        STACK,
        engine_env(),
        {
            "kubeconfig": (directory / "admin.kubeconfig").read_text(),
            "sshPrivateKey": (directory / "id_ed25519").read_text(),
            "backupAccessKeyId": CREDENTIALS["aws_access_key_id"],
            "backupSecretAccessKey": CREDENTIALS["aws_secret_access_key"],
        },
    )
    return work


def ensure_running(directory: Path, count: int, api_port: int, etcd_port: int, ssh_port: int) -> LabState:
    state = LabState.load(directory)
    if state and all(alive(pid) for pid in state.pids.values()):
        print(f"lab: reusing the running lab in {directory}")
        return state
    if state:
        stop(directory, state)
    state = start(directory, count, api_port, etcd_port, ssh_port)
    print(f"lab: {len(state.hosts)} hosts and a control plane on https://127.0.0.1:{api_port}")
    return state


def apply(
    directory: Path,
    state: LabState,
    *extra: str,
    capture: bool = False,
    settings: dict[str, Any] | None = None,
    work_name: str = STACK,
) -> subprocess.CompletedProcess[str]:
    """`pulumi up` of the lab stack (its own settings unless given), with the policy pack."""
    work = stack_workdir(directory, state, settings, work_name)
    command = ["pulumi", "up", "--yes", "--skip-preview", "--stack", STACK, *policy_args(STACK)]
    return subprocess.run(
        [*command, *extra], cwd=work, env=engine_env(), check=False, text=True, capture_output=capture
    )


def up(directory: Path, count: int, api_port: int, etcd_port: int, ssh_port: int) -> int:
    return apply(directory, ensure_running(directory, count, api_port, etcd_port, ssh_port)).returncode


def status(directory: Path) -> int:
    state = LabState.load(directory)
    if not state:
        print("lab: not running")
        return 1
    for name, pid in state.pids.items():
        print(f"{name:32} pid {pid:7} {'running' if alive(pid) else 'STOPPED'}")
    plane = state.control_plane(directory)
    for host in state.hosts:
        node = plane.node(host["name"])
        print(f"{host['name']:12} labels {node['metadata'].get('labels', {})} taints {node['spec'].get('taints', [])}")
    for queue in plane.request("GET", "/apis/scheduling.run.ai/v2/queues").get("items", []):
        spec = queue["spec"]
        gpu = spec.get("resources", {}).get("gpu", {})
        print(
            f"queue {queue['metadata']['name']:16} parent {spec.get('parentQueue', '-'):12} "
            f"gpu quota {gpu.get('quota')} limit {gpu.get('limit')}"
        )
    return 0


def terminate(*pids: int, wait: float = 10) -> None:
    """SIGTERM each process, then wait up to `wait` seconds for each to go."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    for pid in pids:
        deadline = time.monotonic() + wait
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


def stop(directory: Path, state: LabState) -> None:
    """Stop every process and forget the lab: keys, certificates, etcd data."""
    terminate(*state.pids.values())
    shutil.rmtree(directory, ignore_errors=True)


def down(directory: Path, quiet: bool = False, work_name: str = STACK) -> int:
    state = LabState.load(directory)
    work = STATE / "work" / work_name
    code, destroyed = 0, False
    if state and work.exists() and all(alive(pid) for pid in state.pids.values()):
        code = subprocess.run(
            ["pulumi", "destroy", "--yes", "--skip-preview", "--stack", STACK],
            cwd=work,
            env=engine_env(),
            check=False,
            stdout=subprocess.DEVNULL if quiet else None,
        ).returncode
        destroyed = code == 0
    if state:
        stop(directory, state)
    if destroyed:
        checked(["stack", "rm", "--yes", "--force", STACK], work, engine_env())
    if not quiet:
        print("lab: stopped")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "status", "down"])
    parser.add_argument("--machines", type=int, default=3, help="machines lab: machines (at least 2)")
    parser.add_argument("--control-planes", type=int, default=1, help="machines lab: control planes (1 or 3)")
    parser.add_argument("--fast", action="store_true", help="the fast lab (SSH hosts and a bare API server)")
    parser.add_argument("--machines-dir", type=Path, default=Path(os.environ.get("LAB_MACHINES_DIR", MACHINES_DIR)))
    parser.add_argument("--hosts", type=int, default=4, help="fast lab: hosts (at least 2)")
    parser.add_argument("--dir", type=Path, default=Path(os.environ.get("LAB_DIR", DEFAULT_DIR)))
    parser.add_argument("--api-port", type=int, default=6443)
    parser.add_argument("--etcd-port", type=int, default=2379)
    parser.add_argument("--ssh-port", type=int, default=2222)
    args = parser.parse_args(argv)
    if args.hosts < 2:
        parser.error("--hosts: at least 2 (a control plane and a system node)")
    if args.control_planes not in (1, 3):
        parser.error("--control-planes: 1, or 3 for a highly available control plane")
    if args.machines < args.control_planes + 1:
        parser.error("--machines: the control planes and at least one worker")
    machines_dir, fast_dir = args.machines_dir.resolve(), args.dir.resolve()
    if args.command == "up":
        if args.fast:
            return up(fast_dir, args.hosts, args.api_port, args.etcd_port, args.ssh_port)
        return machines_up(machines_dir, args.machines, args.control_planes)
    if args.command == "status":
        shown = [machines_status(machines_dir) == 0, (fast_dir / "state.json").exists() and status(fast_dir) == 0]
        return 0 if any(shown) else 1
    codes = [machines_down(machines_dir)]
    if (fast_dir / "state.json").exists():
        codes.append(down(fast_dir))
    return max(codes)


if __name__ == "__main__":
    sys.exit(main())
