"""The lab machines' operating system: a Debian 12 root file system made
with debootstrap once and cached outside the repository (keyed by its
package list and this machine's kernel), then shared read-only by every
machine under an overlay of its own.

It plays the site's OS image: Debian's packages a freshly installed node
has (node preparation finds them installed) and no Debian mirror in its apt
sources, since the lab, like an air-gapped site, reaches none; the
Kubernetes packages come from the stack's own package mirror setting."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tools.go_cache import cache_root

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = [
    # systemd as PID 1 and the SSH server the stack reaches the machine by
    "systemd-sysv", "dbus", "openssh-server",
    # what the kubelet, kubeadm and kube-proxy call on the host
    "iproute2", "iptables", "conntrack", "ethtool", "socat", "ebtables", "kmod", "util-linux", "mount",
    # the container runtime node preparation configures, and the lab's CNI plugins
    "containerd", "runc", "containernetworking-plugins",
    # node preparation's prerequisites (apt sources, NFS volumes)
    "ca-certificates", "curl", "gpg", "nfs-common", "procps", "openssl",
]  # fmt: skip
# Built into this machine's kernel; modprobe inside a machine needs them listed.
BUILTIN_MODULES = ["overlay", "br_netfilter", "bridge", "nf_conntrack", "ip_tables", "iptable_nat", "veth"]


def _key() -> str:
    recipe = "\n".join([SUITE, *PACKAGES, *BUILTIN_MODULES, os.uname().release]).encode()
    return hashlib.sha256(recipe).hexdigest()[:12]


def _customise(root: Path) -> None:
    """What every machine image shares: no Debian mirror, networkd and sshd
    on, a root login by key only, modprobe able to find built-in modules."""
    (root / "etc/apt/sources.list").write_text("# The lab's machines reach no Debian mirror.\n")
    modules = root / "lib/modules" / os.uname().release
    modules.mkdir(parents=True, exist_ok=True)
    (modules / "modules.builtin").write_text("".join(f"kernel/lab/{name}.ko\n" for name in BUILTIN_MODULES))
    subprocess.run(["chroot", str(root), "depmod", os.uname().release], check=True, capture_output=True)
    subprocess.run(["chroot", str(root), "systemctl", "enable", "ssh"], check=True, capture_output=True)
    # Units that have nothing to do in a container (the lab sets the address
    # itself; the RPC pipe file system cannot be mounted in one).
    masked = ("systemd-timesyncd.service", "getty@tty1.service", "console-getty.service",
              "systemd-networkd.service", "systemd-networkd-wait-online.service", "run-rpc_pipefs.mount")  # fmt: skip
    for unit in masked:
        (root / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (root / "etc/systemd/system" / unit).symlink_to("/dev/null")
    (root / "etc/ssh/sshd_config.d").mkdir(parents=True, exist_ok=True)
    (root / "etc/ssh/sshd_config.d/lab.conf").write_text(
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\n"
    )
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()  # each machine gets its own
    (root / "etc/machine-id").write_text("")


def ensure_rootfs(log: Path) -> Path:
    """The cached root file system, made on first use (a few minutes)."""
    target = cache_root() / f"lab-rootfs-{SUITE}-{_key()}"
    if (target / ".complete").exists():
        _customise(target)  # cheap and idempotent: a changed recipe applies at once
        return target
    scratch = target.with_name(target.name + ".new")
    shutil.rmtree(scratch, ignore_errors=True)
    with log.open("ab") as output:
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(scratch), MIRROR],
            check=True,
            stdout=output,
            stderr=output,
        )
    _customise(scratch)
    (scratch / ".complete").write_text("")
    shutil.rmtree(target, ignore_errors=True)
    scratch.rename(target)
    return target
