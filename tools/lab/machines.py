"""Lab machines: systemd-nspawn containers booting Debian 12 with systemd as
PID 1 and an SSH server, each with its own overlay over the cached root file
system, its own address on the lab network and its own cgroups.

What makes a container behave like the machine the stack expects is written
into its overlay before it boots, as a site's machine image would carry it:
its name and address, the site's name resolution (/etc/hosts), its SSH host
key and the stack's authorised key, and the lab's pod network (a bridge CNI
with a pod subnet per machine, routed between machines on the lab network).
Two things only a container needs are in the image too: its cgroup
controllers made writable inside its own cgroup namespace, and the SSH host
key generated here so the stack can pin it."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from tools.lab import cgroups
from tools.lab.network import BRIDGE, NAMESPACE, ROUTER_ADDRESS, SUBNET

POD_NETWORK = ipaddress.IPv4Network("10.244.0.0/16")

NETWORK_UNIT = """\
[Unit]
Description=The lab network: this machine's address, routes to the other machines' pods
DefaultDependencies=no
Before=network.target ssh.service containerd.service kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/etc/lab/network.sh

[Install]
WantedBy=multi-user.target
"""

# Inside its cgroup namespace the machine sees only its own subtree; nspawn
# mounts the controllers read-only, and the kubelet and runc must write there.
CGROUP_UNIT = """\
[Unit]
Description=The machine's cgroup controllers writable for its kubelet
DefaultDependencies=no
Before=containerd.service kubelet.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'for c in /sys/fs/cgroup/*/; do mount -o remount,bind,rw "$c"; done'

[Install]
WantedBy=multi-user.target
"""


@dataclass(frozen=True)
class MachineSpec:
    name: str
    index: int
    roles: list[str]
    gpus: int = 0

    @property
    def address(self) -> str:
        return str(SUBNET[11 + self.index])

    @property
    def pod_subnet(self) -> str:
        return str(list(POD_NETWORK.subnets(new_prefix=24))[1 + self.index])


def alive(pid: int) -> bool:
    """The process runs (not gone, not a zombie); 0 names none."""
    try:
        return pid > 0 and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def network_script(machine: MachineSpec, everyone: list[MachineSpec]) -> str:
    lines = [
        "#!/bin/sh",
        "# Written by the lab: this machine on the lab network, and its pods' neighbours.",
        "set -e",
        "ip link set host0 up",
        f"ip addr replace {machine.address}/{SUBNET.prefixlen} dev host0",
        f"ip route replace default via {ROUTER_ADDRESS}",
    ]
    lines += [
        f"ip route replace {other.pod_subnet} via {other.address}" for other in everyone if other.name != machine.name
    ]
    return "\n".join(lines) + "\n"


def hosts_file(everyone: list[MachineSpec]) -> str:
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{machine.address} {machine.name}" for machine in everyone]
    return "\n".join(lines) + "\n"


def cni_config(machine: MachineSpec) -> str:
    plugin = {
        "type": "bridge",
        "bridge": "cni0",
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": machine.pod_subnet}]], "routes": [{"dst": "0.0.0.0/0"}]},
    }
    return json.dumps(
        {
            "cniVersion": "0.4.0",
            "name": "lab",
            "plugins": [plugin, {"type": "portmap", "capabilities": {"portMappings": True}}],
        },
        indent=2,
    )


def _enable(root: Path, unit: str, text: str) -> None:
    path = root / "etc/systemd/system" / unit
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    wants = root / "etc/systemd/system/multi-user.target.wants" / unit
    wants.parent.mkdir(parents=True, exist_ok=True)
    wants.unlink(missing_ok=True)
    wants.symlink_to(f"/etc/systemd/system/{unit}")


@dataclass
class Machine:
    """One machine's files and process; `directory` holds its overlay."""

    spec: MachineSpec
    directory: Path
    pid: int = 0

    @property
    def root(self) -> Path:
        return self.directory / "root"

    def host_key(self) -> str:
        return (self.directory / "upper/etc/ssh/ssh_host_ed25519_key.pub").read_text().strip()

    def write_image(self, everyone: list[MachineSpec], authorized_key: str) -> None:
        """The per-machine files, in the overlay's upper layer."""
        upper = self.directory / "upper"
        (upper / "etc/lab").mkdir(parents=True, exist_ok=True)
        (upper / "etc/hostname").write_text(self.spec.name + "\n")
        (upper / "etc/hosts").write_text(hosts_file(everyone))
        if not (upper / "etc/machine-id").exists() or not (upper / "etc/machine-id").read_text().strip():
            (upper / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        script = upper / "etc/lab/network.sh"
        script.write_text(network_script(self.spec, everyone))
        script.chmod(0o755)
        _enable(upper, "lab-network.service", NETWORK_UNIT)
        _enable(upper, "lab-cgroups.service", CGROUP_UNIT)
        ssh = upper / "root/.ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        (ssh / "authorized_keys").write_text(authorized_key + "\n")
        host_key = upper / "etc/ssh/ssh_host_ed25519_key"
        if not host_key.exists():
            host_key.parent.mkdir(parents=True, exist_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        cni = upper / "etc/cni/net.d"
        cni.mkdir(parents=True, exist_ok=True)
        (cni / "10-lab.conflist").write_text(cni_config(self.spec))
        (upper / "opt/cni").mkdir(parents=True, exist_ok=True)
        if not (upper / "opt/cni/bin").is_symlink():
            (upper / "opt/cni/bin").symlink_to("/usr/lib/cni")

    def mount(self, rootfs: Path) -> None:
        for part in ("upper", "work", "root", "containerd"):
            (self.directory / part).mkdir(parents=True, exist_ok=True)
        if os.path.ismount(self.root):
            return
        options = f"lowerdir={rootfs},upperdir={self.directory / 'upper'},workdir={self.directory / 'work'}"
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", options, str(self.root)], check=True)

    def boot(self) -> int:
        """Start the machine; the nspawn process's id."""
        environment = {
            **os.environ,
            "SYSTEMD_NSPAWN_API_VFS_WRITABLE": "1",  # the kubelet and node prep write /sys and /proc/sys
            "SYSTEMD_SECCOMP": "0",  # runc inside applies its own profiles
        }
        command = [
            "nsenter", f"--net=/run/netns/{NAMESPACE}",
            "systemd-nspawn", "-D", str(self.root), "--boot",
            f"--machine={self.spec.name}", f"--hostname={self.spec.name}",
            "--register=no", "--keep-unit", f"--network-bridge={BRIDGE}", "--capability=all",
            f"--bind={self.directory / 'containerd'}:/var/lib/containerd", "--bind=/dev/kmsg",
            "--console=passive",
        ]  # fmt: skip
        targets = cgroups.machine_cgroups(self.spec.name)
        log = (self.directory / "console.log").open("ab")
        process = subprocess.Popen(
            command,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=lambda: cgroups.join(targets),
        )
        self.pid = process.pid
        return self.pid

    def leader(self) -> int:
        """The machine's PID 1 as this host sees it (nspawn's child), or 0."""
        try:
            children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        except OSError:
            return 0
        return int(children[0]) if children else 0

    def running(self) -> bool:
        return alive(self.pid)

    def run(self, *command: str) -> subprocess.CompletedProcess[str]:
        """A command in the machine's namespaces (the lab's own wiring, not
        the stack's: the stack only ever uses SSH)."""
        return subprocess.run(
            ["nsenter", "-t", str(self.leader()), "-m", "-u", "-i", "-n", "-p", *command],
            capture_output=True,
            text=True,
            check=False,
        )

    def stop(self, wait: float = 5) -> None:
        """Halt the machine: a first SIGTERM asks its systemd to, a second
        makes nspawn end it at once, SIGKILL if even that hangs."""
        for sig, patience in ((signal.SIGTERM, wait), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            if not (self.pid and self.running()):
                break
            os.kill(self.pid, sig)
            deadline = time.monotonic() + patience
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.2)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(self.pid, os.WNOHANG)
        cgroups.remove(self.spec.name)

    def unmount(self) -> None:
        if os.path.ismount(self.root):
            subprocess.run(["umount", str(self.root)], check=True)
        propagate = Path("/run/systemd/nspawn/propagate") / self.spec.name
        shutil.rmtree(propagate, ignore_errors=True)

    def wipe(self) -> None:
        """Forget everything the machine wrote: a reinstalled machine."""
        self.unmount()
        shutil.rmtree(self.directory, ignore_errors=True)

    def to_dict(self) -> dict[str, object]:
        return {"spec": asdict(self.spec), "pid": self.pid}
