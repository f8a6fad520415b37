"""The machines lab: real machines (systemd-nspawn containers running
Debian 12, systemd and sshd) on a network of their own, an air-gapped site
around them (package mirror, image registry, S3), and the `lab` stack with
`bootstrap: kubeadm` that `pulumi up` turns into a cluster on them.

State lives in <dir>/machines.json; builds are cached outside the
repository. `down` destroys the stack, stops every machine and service it
started (by process id), unmounts, removes its cgroups, network namespace and
the cgroup controllers it mounted, and puts back the host-wide kernel
settings the kubelets changed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from stacks.addons import layers_off
from tools.go_cache import built
from tools.lab import cgroups, host_sysctls, site
from tools.lab.backup_image import REPOSITORY as BACKUP_REPOSITORY
from tools.lab.backup_image import TAG as BACKUP_TAG
from tools.lab.backup_image import backup_image
from tools.lab.crds import kai_crds
from tools.lab.disk import require_room
from tools.lab.machines import Machine, MachineSpec, alive
from tools.lab.network import BALANCER_ADDRESS, HOST_ADDRESS, LabNetwork
from tools.lab.rootfs import ensure_rootfs
from tools.lab.s3 import BUCKET, CREDENTIALS, start_s3
from tools.lab.sshd import keygen
from tools.stackrun import STATE, checked, engine_env, init_stack, policy_args, workdir

PROJECT = "runai-cluster"
STACK = "lab"
# The version the lab builds and installs (the newest release of the 1.32
# line the module proxy here serves whole).
KUBERNETES_VERSION = "1.32.8"
S3_PORT = 9000
WORK_NAME = "lab-machines"  # the project copy `up` runs in (the fast lab has its own)


# The organisation `make lab` puts on the cluster (KAI path): one department
# over the GPU worker's two GPUs, a project with CPU and memory quotas and one
# with over-quota off.
ORG: dict[str, Any] = {
    "departments": [
        {
            "name": "research",
            "quotas": {"lab": {"gpu": 2, "cpu": 4, "memoryGb": 8}},
            "access": [{"group": "research-leads", "role": "department-admin"}],
            "projects": [
                {
                    "name": "vision",
                    "quotas": {"lab": {"gpu": 1, "cpu": 2, "memoryGb": 4}},
                    "access": [{"user": "alice@example.com", "role": "researcher"}],
                },
                {"name": "speech", "quotas": {"lab": {"gpu": 1}}, "overQuota": False},
            ],
        }
    ]
}


def layout(count: int, control_planes: int = 1) -> list[MachineSpec]:
    """Control planes, then workers: the first a GPU worker with two
    simulated GPUs, the rest CPU workers."""
    if count < control_planes + 1:
        raise ValueError("--machines: at least the control planes and one worker")
    specs = [MachineSpec(f"lab-cp-{index + 1}", index, ["control-plane"]) for index in range(control_planes)]
    for index in range(control_planes, count):
        if index == control_planes:
            specs.append(MachineSpec("lab-gpu-1", index, ["gpu-worker"], gpus=2))
        else:
            specs.append(MachineSpec(f"lab-cpu-{index - control_planes}", index, ["cpu-worker"]))
    return specs


@dataclass
class LabRecord:
    """What `up` started, for `status` and `down`."""

    machines: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: dict[str, int] = field(default_factory=dict)
    cgroup_controllers: list[str] = field(default_factory=list)
    sysctls: dict[str, str] = field(default_factory=dict)
    kubernetes: str = ""
    rootfs: str = ""

    @classmethod
    def load(cls, directory: Path) -> LabRecord | None:
        path = directory / "machines.json"
        return cls(**json.loads(path.read_text())) if path.exists() else None

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "machines.json").write_text(json.dumps(asdict(self), indent=2))


def machine(directory: Path, record: LabRecord, name: str) -> Machine:
    entry = record.machines[name]
    return Machine(MachineSpec(**entry["spec"]), directory / "machines" / name, entry.get("pid", 0))


def wait_for_ssh(address: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, 22), timeout=2) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{address}: no SSH server after {timeout:.0f}s")
        time.sleep(0.3)


class MachinesLab:
    """One machines lab: its site, its machines and the lab stack's settings."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.record = LabRecord.load(directory) or LabRecord()
        # Per-node settings on top of the layout's (maintenance, generation).
        self.node_settings: dict[str, dict[str, Any]] = {}
        # Cluster settings on top of the lab's (certificates, upgrade, ...).
        self.cluster_settings: dict[str, Any] = {}
        self.kubernetes_version = KUBERNETES_VERSION

    @property
    def kubernetes_dir(self) -> Path:
        return Path(self.record.kubernetes)

    # --- the site ------------------------------------------------------------
    def prepare(self, releases: tuple[str, ...] = (KUBERNETES_VERSION,)) -> None:
        """Builds (cached) and the site's services, serving each release's
        packages and images (the first is the one the machines run)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        rootfs = ensure_rootfs(self.directory / "debootstrap.log")
        builds = [built("lab_binaries.sh", release) for release in releases]
        kubernetes = builds[0]
        tools = built("lab_site_binaries.sh", site.versions(kubernetes)["ETCD_VERSION"].split("-")[0])
        # After the builds (a cold one fills ~24 GB): the disk as the kubelets will see it.
        require_room(self.directory)
        self.record.kubernetes, self.record.rootfs = str(kubernetes), str(rootfs)
        if not self.record.sysctls:
            self.record.sysctls = host_sysctls.read()
        self.record.cgroup_controllers += cgroups.mount_missing()
        self.record.save(self.directory)
        LabNetwork().create()
        services = self.directory / "site"
        services.mkdir(exist_ok=True)
        ca = site.make_ca(services / "pki")
        running = self.record.services
        if not alive(running.get("mirror", 0)):
            site.publish_packages(services, builds, tools)
            running["mirror"] = site.start_mirror(services)
        if not alive(running.get("registry", 0)):
            running["registry"] = site.start_registry(services, tools / "registry", services / "pki")
        if not alive(running.get("s3", 0)):
            running["s3"] = start_s3(services, S3_PORT, HOST_ADDRESS)
        self.record.save(self.directory)
        for build in builds:
            site.push_images(site.images(build, tools, rootfs), ca)
        site.push_images([backup_image(rootfs)], ca)

    # --- machines --------------------------------------------------------------
    def ensure_machines(self, specs: list[MachineSpec]) -> None:
        """Boot the machines not running yet; every machine knows every other."""
        _, public = keygen(self.directory / "id_ed25519")
        rootfs = Path(self.record.rootfs)
        started = []
        for spec in specs:
            pid = self.record.machines.get(spec.name, {}).get("pid", 0)
            current = Machine(spec, self.directory / "machines" / spec.name, pid)
            if current.pid and current.running():
                # A machine added or gone: names and pod routes follow at once.
                current.write_image(specs, public)
                current.run("/etc/lab/network.sh")
                continue
            current.write_image(specs, public)
            current.mount(rootfs)
            current.boot()
            self.record.machines[spec.name] = current.to_dict()
            started.append(current)
        self.record.save(self.directory)
        for current in started:
            wait_for_ssh(current.spec.address)
        planes = [spec.address for spec in specs if "control-plane" in spec.roles]
        if len(planes) > 1 and not alive(self.record.services.get("balancer", 0)):
            self.record.services["balancer"] = site.start_balancer(self.directory / "site", planes)
            self.record.save(self.directory)

    def stop_machine(self, name: str, wipe: bool = False) -> None:
        """Power the machine off; `wipe` forgets its disk (a reinstall)."""
        if name not in self.record.machines:
            return
        current = machine(self.directory, self.record, name)
        current.stop()
        if wipe:
            current.wipe()
        else:
            current.unmount()
        del self.record.machines[name]
        self.record.save(self.directory)

    def machines(self) -> list[Machine]:
        return [machine(self.directory, self.record, name) for name in self.record.machines]

    # --- teardown --------------------------------------------------------------
    def stop_all(self) -> None:
        for name in list(self.record.machines):
            self.stop_machine(name)
        for pid in self.record.services.values():
            if alive(pid):
                os.kill(pid, signal.SIGTERM)
        for pid in self.record.services.values():
            deadline = time.monotonic() + 10
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
        self.record.services = {}
        LabNetwork().delete()
        cgroups.unmount(self.record.cgroup_controllers)
        if self.record.sysctls:
            host_sysctls.restore(self.record.sysctls)
        (self.directory / "machines.json").unlink(missing_ok=True)
        subprocess.run(["rm", "-rf", str(self.directory / "machines"), str(self.directory / "site")], check=False)

    # --- the stack's settings --------------------------------------------------
    def stack_settings(self, specs: list[MachineSpec], org: dict[str, Any] | None = None) -> dict[str, Any]:
        ca_pem = (self.directory / "site" / "pki" / "ca.crt").read_text()
        found = site.versions(self.kubernetes_dir)
        nodes = []
        for spec in specs:
            node: dict[str, Any] = {
                "name": spec.name,
                "address": spec.address,
                "roles": spec.roles,
                "hostKey": machine(self.directory, self.record, spec.name).host_key(),
            }
            if spec.gpus:
                node |= {"gpu": {"model": "simulated", "count": spec.gpus}, "nodePool": "lab"}
            nodes.append(node | self.node_settings.get(spec.name, {}))
        planes = [spec for spec in specs if "control-plane" in spec.roles]
        # The site's haproxy takes a server out within two seconds.
        balancer = {"host": BALANCER_ADDRESS, "provider": "external", "shutdownDelaySeconds": 5}
        endpoint = {"apiEndpoint": balancer} if len(planes) > 1 else {}
        return {
            f"{PROJECT}:cluster": {
                "name": "lab",
                "environment": "dev",
                "kubernetesVersion": self.kubernetes_version,
                "bootstrap": "kubeadm",
                **endpoint,
                # The machines are containers: kubeadm's kernel-config check
                # finds no kernel config, and kubeadm built by Go 1.26 parses
                # the proxy check's bracketed address the new way.
                "ignorePreflightErrors": ["SystemVerification", "HTTPProxyCIDR"],
                # The conntrack limit is the host's: a machine may not raise it.
                "kubeProxy": {"conntrack": {"maxPerCore": 0}},
                **self.cluster_settings,
            },
            f"{PROJECT}:ssh": {"user": "root", "port": 22, "dialAttempts": 5, "dialRetryDelaySeconds": 2},
            f"{PROJECT}:preflight": {
                "gpusSimulated": True,
                "minimums": {
                    role: {"cpus": 1, "memoryGb": 1, "diskGb": 1}
                    for role in ("control-plane", "system", "gpu-worker", "cpu-worker")
                },
            },
            f"{PROJECT}:packages": {
                "kubernetesAptRepo": site.kubernetes_repo_url("{minor}"),
                "kubernetesAptKeyUrl": site.kubernetes_repo_url("{minor}") + "Release.key",
                "imageRepository": site.IMAGE_REPOSITORY,
                "containerd": {
                    "sandboxImage": f"{site.IMAGE_REPOSITORY}/pause:{found['PAUSE_VERSION']}",
                    # runc inside a container may not lower OOM scores.
                    "criSettings": {"restrict_oom_score_adj": True},
                },
                "privateRegistry": {"host": site.REGISTRY, "caCert": ca_pem},
                "nvidia": {"installOnHost": False},
            },
            f"{PROJECT}:nodes": nodes,
            f"{PROJECT}:addons": layers_off(),
            # KAI's chart is not reachable from here: the lab applies its CRDs
            # (install_kai_crds) where the chart would, before the organisation.
            f"{PROJECT}:scheduler": {"kind": "kai", "kai": {"installChart": False}},
            **({f"{PROJECT}:org": org} if org else {}),
            f"{PROJECT}:backup": {
                "enabled": True,
                "schedule": "0 */6 * * *",
                "image": f"{site.REGISTRY}/{BACKUP_REPOSITORY}:{BACKUP_TAG}",
                "s3": {"endpoint": f"http://{HOST_ADDRESS}:{S3_PORT}", "bucket": BUCKET, "prefix": "lab"},
            },
        }

    def stack_secrets(self) -> dict[str, str]:
        return {
            "sshPrivateKey": (self.directory / "id_ed25519").read_text(),
            "backupAccessKeyId": CREDENTIALS["aws_access_key_id"],
            "backupSecretAccessKey": CREDENTIALS["aws_secret_access_key"],
        }

    # --- after the stack -------------------------------------------------------
    def kubectl(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """kubectl as the cluster's administrator (admin.conf of the first
        control plane, read from its disk: the lab's wiring, not the stack's)."""
        first = next(m for m in self.machines() if "control-plane" in m.spec.roles)
        kubeconfig = first.root / "etc/kubernetes/admin.conf"
        command = [str(self.kubernetes_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args]
        return subprocess.run(command, capture_output=True, text=True, check=check, input=stdin)

    def install_kai_crds(self) -> None:
        """KAI's CRDs from its Go module, as its chart would install them."""
        documents = kai_crds(built("scheduler_binaries.sh"))
        self.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": documents}),
        )
        self.kubectl("wait", "--for=condition=Established", "crd", *(d["metadata"]["name"] for d in documents))

    def advertise_gpus(self) -> None:
        """The simulated GPUs as the nvidia.com/gpu extended resource on
        their Nodes, as NVIDIA's device plugin would advertise real ones."""
        for current in self.machines():
            if current.spec.gpus:
                patch = json.dumps({"status": {"capacity": {"nvidia.com/gpu": str(current.spec.gpus)}}})
                self.kubectl("patch", "node", current.spec.name, "--subresource=status", "--type=merge", "-p", patch)


def specs_of(record: LabRecord) -> list[MachineSpec]:
    return [MachineSpec(**entry["spec"]) for entry in record.machines.values()]


def stack_work(lab: MachinesLab, specs: list[MachineSpec], org: dict[str, Any] | None = None) -> Path:
    """The project copy with the lab stack's settings for these machines."""
    work = workdir(STACK, settings=lab.stack_settings(specs, org), name=WORK_NAME)
    init_stack(work, STACK, engine_env(), lab.stack_secrets())
    return work


def pulumi(work: Path, *args: str, capture: bool = False) -> subprocess.CompletedProcess[str]:
    """A pulumi command on the lab stack; `up` and `preview` with the policy pack."""
    policy = policy_args(STACK) if args[0] in ("up", "preview") else []
    command = ["pulumi", *args, "--stack", STACK, *policy]
    return subprocess.run(command, cwd=work, env=engine_env(), check=False, text=True, capture_output=capture)


def up(
    lab: MachinesLab, specs: list[MachineSpec], org: dict[str, Any] | None = None, capture: bool = False
) -> subprocess.CompletedProcess[str]:
    """Machines booted, `pulumi up`, then the simulated GPUs advertised."""
    lab.ensure_machines(specs)
    result = pulumi(stack_work(lab, specs, org), "up", "--yes", "--skip-preview", capture=capture)
    if result.returncode == 0:
        lab.advertise_gpus()
    return result


def machines_up(directory: Path, count: int, control_planes: int = 1, org: dict[str, Any] = ORG) -> int:
    """The cluster, then KAI's CRDs, then the organisation on it."""
    lab = MachinesLab(directory)
    started = time.monotonic()
    lab.prepare()
    specs = layout(count, control_planes)
    code = up(lab, specs).returncode
    if code == 0:
        lab.install_kai_crds()
        code = up(lab, specs, org).returncode
    lab.record.save(directory)
    if code == 0:
        print(f"lab: cluster ready in {time.monotonic() - started:.0f}s")
    return code


def machines_status(directory: Path) -> int:
    record = LabRecord.load(directory)
    if not record:
        print("machines lab: not running")
        return 1
    lab = MachinesLab(directory)
    for name, pid in record.services.items():
        print(f"{name:12} pid {pid:7} {'running' if alive(pid) else 'STOPPED'}")
    for current in lab.machines():
        state = "running" if current.running() else "STOPPED"
        print(f"{current.spec.name:12} {current.spec.address:12} {','.join(current.spec.roles):16} {state}")
    for what in ("nodes", "pods"):
        result = lab.kubectl("get", what, "-A" if what == "pods" else "-o=wide", "-o", "wide", check=False)
        print(result.stdout or result.stderr)
    return 0


def machines_down(directory: Path) -> int:
    """pulumi destroy (while the machines answer), then stop everything."""
    record = LabRecord.load(directory)
    if not record:
        return 0
    lab = MachinesLab(directory)
    work = STATE / "work" / WORK_NAME
    code = 0
    if work.exists() and lab.machines() and all(m.running() for m in lab.machines()):
        code = pulumi(work, "destroy", "--yes", "--skip-preview").returncode
        if code == 0:
            checked(["stack", "rm", "--yes", "--force", STACK], work, engine_env())
    lab.stop_all()
    print("machines lab: stopped")
    return code
