"""The `packages` section: where node software comes from, and at what version.

Every source can point at a mirror for air-gapped sites."""

from __future__ import annotations

import re
from enum import IntEnum

from pydantic import Field, model_validator

from stacks.base import Section

_TOML_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TOML_TEXT = re.compile(r"^[^\"\\\n\r]*$")


def _toml(value: bool | int | str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, int) else f'"{value}"'


class ContainerdConfigVersion(IntEnum):
    V2 = 2  # containerd 1.x
    V3 = 3  # containerd 2.x


class ContainerdConfig(Section):
    # Debian/Ubuntu's own "containerd", or "containerd.io" from Docker's repo.
    package: str = "containerd"
    """distro package, or `containerd.io` from Docker's repository"""
    version: str = ""  # apt version; empty takes the repository's candidate
    """apt version; empty takes the candidate"""
    # Full apt line pieces for a third-party repo, empty for the distro's.
    apt_repo: str = ""
    """a third-party repository and its key"""
    apt_key_url: str = ""
    """a third-party repository and its key"""
    # 2 for containerd 1.x, 3 for 2.x (Ubuntu 24.04's distro package is 1.7).
    config_version: ContainerdConfigVersion = ContainerdConfigVersion.V2
    """`2` for containerd 1.x, `3` for 2.x"""
    data_root: str = "/var/lib/containerd"
    """put images on a large disk"""
    sandbox_image: str = "registry.k8s.io/pause:3.10"
    """pause image"""
    cri_settings: dict[str, bool | int | str] = Field(default_factory=dict)
    """Extra settings of containerd's CRI plugin, spelt as containerd spells them: {"restrict_oom_score_adj": true}
    where runc may not lower OOM scores (machines that are themselves containers)."""

    @model_validator(mode="after")
    def _repo_needs_key(self) -> ContainerdConfig:
        if self.apt_repo and not self.apt_key_url:
            raise ValueError("aptRepo is set but aptKeyUrl is empty: give the repository's signing key URL")
        if not self.data_root.startswith("/"):
            raise ValueError(f"dataRoot {self.data_root!r} must be an absolute path")
        for key, value in self.cri_settings.items():
            if not _TOML_KEY.match(key):
                raise ValueError(f"criSettings: {key!r} is not a containerd setting name (letters, digits, _ and -)")
            if isinstance(value, str) and not _TOML_TEXT.match(value):
                raise ValueError(f"criSettings.{key}: {value!r} may not hold quotes, backslashes or line breaks")
        return self

    def cri_settings_toml(self) -> str:
        """The CRI settings as TOML lines, indented under the plugin's table."""
        return "\n".join(f"  {key} = {_toml(value)}" for key, value in sorted(self.cri_settings.items()))


class NvidiaConfig(Section):
    # Install driver and container toolkit on GPU workers over SSH; set false
    # when the GPU Operator will manage them (its driver/toolkit operands).
    install_on_host: bool = True
    """install driver and toolkit over SSH on GPU workers; `false` when the GPU Operator manages them"""
    driver_package: str = "nvidia-driver-570-server"
    """driver package, held; with an exact apt version, a change rolls out one GPU node at a time (drained, rebooted)"""
    driver_version: str = ""
    """the driver's exact apt version, held; empty takes the candidate"""
    container_toolkit_version: str = "1.17.8-1"
    """toolkit version, held"""
    # {arch} becomes the node's dpkg architecture (amd64, arm64).
    apt_repo: str = "https://nvidia.github.io/libnvidia-container/stable/deb/{arch} /"
    """toolkit source"""
    apt_key_url: str = "https://nvidia.github.io/libnvidia-container/gpgkey"
    """toolkit source"""


class PrivateRegistry(Section):
    """A registry the nodes trust: its CA goes into containerd's hosts.toml.
    Pull credentials are per registry in `runai.registries` (the cluster's
    image pull secrets), not a node setting."""

    host: str
    """the registry's host (and port)"""
    ca_cert: str = ""
    """PEM of the organisation's CA, when the registry's certificate is not publicly trusted"""


class PackagesConfig(Section):
    # {minor} becomes e.g. 1.32: pkgs.k8s.io has one repository per minor.
    kubernetes_apt_repo: str = "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/"
    """one repository per minor version"""
    kubernetes_apt_key_url: str = "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/Release.key"
    """its signing key"""
    kubernetes_package_revision: str = "1.1"
    """package revision: installs `1.32.8-1.1`"""
    containerd: ContainerdConfig = ContainerdConfig()
    nvidia: NvidiaConfig = NvidiaConfig()
    # kubeadm's imageRepository (control-plane images), for a local mirror.
    image_repository: str = "registry.k8s.io"
    """kubeadm's control-plane image repository"""
    # registry host -> mirror URLs tried first (containerd certs.d/hosts.toml).
    registry_mirrors: dict[str, list[str]] = Field(default_factory=dict)
    """`{registry: [mirror URLs]}` written as containerd `hosts.toml`"""
    private_registry: PrivateRegistry | None = None

    @model_validator(mode="after")
    def _repos_name_minor(self) -> PackagesConfig:
        for key, value in (
            ("kubernetesAptRepo", self.kubernetes_apt_repo),
            ("kubernetesAptKeyUrl", self.kubernetes_apt_key_url),
        ):
            if "{minor}" not in value and "pkgs.k8s.io" in value:
                raise ValueError(
                    f"{key}: pkgs.k8s.io has one repository per minor version; keep the {{minor}} placeholder"
                )
        for registry, mirrors in self.registry_mirrors.items():
            for mirror in mirrors:
                if not mirror.startswith(("https://", "http://")):
                    raise ValueError(f"registryMirrors.{registry}: {mirror!r} must start with https:// or http://")
        return self

    def kubernetes_repo(self, minor: str) -> str:
        return self.kubernetes_apt_repo.format(minor=minor)

    def kubernetes_key(self, minor: str) -> str:
        return self.kubernetes_apt_key_url.format(minor=minor)
