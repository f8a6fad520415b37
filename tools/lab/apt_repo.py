"""The lab's Kubernetes package repository: kubelet, kubeadm, kubectl and
cri-tools packed as .debs from binaries built from Go modules, in a flat
repository (the layout pkgs.k8s.io uses) signed with a key of the lab's own,
so apt on the machines verifies it as it would the real one.

The unit files are ours; they follow what the kubelet needs under kubeadm:
the kubelet reads the kubeconfig and config kubeadm writes, and the flags
file kubeadm fills in (/var/lib/kubelet/kubeadm-flags.env)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KUBELET_UNIT = """\
[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

# kubeadm's drop-in: the bootstrap and final kubeconfigs, the config file
# kubeadm writes at init/join, and the flags it records per node.
KUBEADM_DROP_IN = """\
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    depends: str
    files: dict[str, tuple[Path | str, int]]  # path in the package -> (binary or text, mode)
    description: str


def packages(binaries: Path, kubernetes: str, crictl: Path, crictl_version: str, revision: str) -> list[Package]:
    full = f"{kubernetes}-{revision}"
    return [
        Package(
            "kubelet",
            full,
            "iptables, iproute2, mount, util-linux, ethtool, socat, conntrack, ebtables",
            {
                "usr/bin/kubelet": (binaries / "kubelet", 0o755),
                "lib/systemd/system/kubelet.service": (KUBELET_UNIT, 0o644),
            },
            "Kubernetes node agent",
        ),
        Package(
            "kubeadm",
            full,
            f"kubelet, cri-tools (>= {crictl_version.rsplit('.', 1)[0]})",
            {
                "usr/bin/kubeadm": (binaries / "kubeadm", 0o755),
                "lib/systemd/system/kubelet.service.d/10-kubeadm.conf": (KUBEADM_DROP_IN, 0o644),
            },
            "Kubernetes cluster bootstrapping tool",
        ),
        Package("kubectl", full, "", {"usr/bin/kubectl": (binaries / "kubectl", 0o755)}, "Kubernetes client"),
        Package(
            "cri-tools",
            f"{crictl_version}-{revision}",
            "",
            {"usr/bin/crictl": (crictl, 0o755)},
            "Command-line tools for the Container Runtime Interface",
        ),
    ]


def build_deb(package: Package, out: Path) -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for relative, (source, mode) in package.files.items():
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, Path):
                shutil.copyfile(source, target)
            else:
                target.write_text(source)
            target.chmod(mode)
        (root / "DEBIAN").mkdir()
        control = [
            f"Package: {package.name}",
            f"Version: {package.version}",
            "Architecture: amd64",
            "Maintainer: runai-cluster lab <lab@localhost>",
            *([f"Depends: {package.depends}"] if package.depends else []),
            "Section: admin",
            "Priority: optional",
            f"Description: {package.description}",
        ]
        (root / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
        deb = out / f"{package.name}_{package.version}_amd64.deb"
        subprocess.run(
            ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(root), str(deb)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return deb


def signing_key(home: Path) -> str:
    """The lab's repository key (made once per lab): its fingerprint."""
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    gpg = ["gpg", "--homedir", str(home), "--batch"]
    listed = subprocess.run([*gpg, "--list-secret-keys", "--with-colons"], capture_output=True, text=True).stdout
    if "fpr:" not in listed:
        subprocess.run(
            [*gpg, "--passphrase", "", "--quick-gen-key", "lab packages <lab@localhost>", "ed25519", "sign", "1y"],
            check=True,
            capture_output=True,
        )
        listed = subprocess.run([*gpg, "--list-secret-keys", "--with-colons"], capture_output=True, text=True).stdout
    return next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))


def publish(debs: list[Path], repo: Path, gnupg: Path) -> None:
    """A flat, signed repository in `repo` (Packages, Release, InRelease,
    Release.key), replacing what was there."""
    shutil.rmtree(repo, ignore_errors=True)
    repo.mkdir(parents=True)
    for deb in debs:
        shutil.copy2(deb, repo / deb.name)
    index = subprocess.run(["apt-ftparchive", "packages", "."], cwd=repo, check=True, capture_output=True).stdout
    (repo / "Packages").write_bytes(index)
    release = subprocess.run(["apt-ftparchive", "release", "."], cwd=repo, check=True, capture_output=True).stdout
    (repo / "Release").write_bytes(release)
    fingerprint = signing_key(gnupg)
    gpg = ["gpg", "--homedir", str(gnupg), "--batch", "--yes", "--local-user", fingerprint]
    subprocess.run([*gpg, "--clearsign", "-o", str(repo / "InRelease"), str(repo / "Release")], check=True)
    subprocess.run([*gpg, "--armor", "--export", "-o", str(repo / "Release.key"), fingerprint], check=True)
