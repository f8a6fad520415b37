"""The `cluster` section: what the Kubernetes control plane looks like."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from stacks.base import Section, check_host
from stacks.upgrade import UpgradeSettings

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

# Oldest minor on pkgs.k8s.io is 1.24; Run:ai 2.19-2.22 support 1.28 and later.
MIN_MINOR = 28


def check_k8s_version(value: str) -> str:
    match = _VERSION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes version like 1.32.8 (no 'v', three numbers)")
    if int(match[1]) != 1 or int(match[2]) < MIN_MINOR:
        raise ValueError(f"{value!r} is too old: use 1.{MIN_MINOR}.0 or later")
    return value


def _parts(version: str) -> tuple[int, int, int]:
    major, minor, patch = (int(part) for part in version.split("."))
    return major, minor, patch


def upgrade_path_error(current: str, wanted: str) -> str | None:
    """Why a running cluster cannot go from `current` to `wanted` in one
    rollout (kubeadm moves one minor at a time and never back), or None."""
    now, then = _parts(current), _parts(wanted)
    if then < now:
        return f"{current} to {wanted} is a downgrade, which kubeadm does not do: keep {current} or go forward"
    if then[1] > now[1] + 1:
        steps = ", then ".join(f"1.{minor}.x" for minor in range(now[1] + 1, then[1] + 1))
        return (
            f"{current} to {wanted} skips a minor version; kubeadm upgrades one minor at a time: "
            f"set {steps} (the newest patch of each), running `pulumi up` after each"
        )
    return None


class Bootstrap(StrEnum):
    KUBEADM = "kubeadm"  # nodes prepared over SSH, cluster made with kubeadm
    EXISTING = "existing"  # a cluster made elsewhere (BCM, DeepOps); kubeconfig given


class VipProvider(StrEnum):
    KUBE_VIP = "kube-vip"  # a static pod on each control plane announces the VIP
    EXTERNAL = "external"  # an external load balancer already owns the address


class ApiEndpoint(Section):
    """Where clients reach the API server. Required with more than one control
    plane: a virtual IP (kube-vip) or an external load balancer."""

    host: Annotated[str, AfterValidator(check_host)]
    """VIP or load-balancer address; required with more than one control plane"""
    port: int = Field(6443, ge=1, le=65535)
    """API server port on the endpoint"""
    provider: VipProvider = VipProvider.KUBE_VIP
    """`kube-vip` (static pod holds the VIP by ARP) or `external`"""
    # Interface kube-vip announces the VIP on (ARP); only for kube-vip.
    interface: str = "eth0"
    """interface kube-vip announces on"""
    kube_vip_image: str = "ghcr.io/kube-vip/kube-vip:v1.0.1"
    """kube-vip image (mirror it when air-gapped)"""
    shutdown_delay_seconds: int = Field(15, ge=0, le=20)
    """seconds an API server going down (an upgrade, a certificate renewal) keeps serving while it fails `/readyz`,
    so that the endpoint stops sending it requests first: longer than the load balancer's health check takes to mark
    a server down; 0 turns it off; at most 20 (the kubelet stops the pod 30 seconds after asking)"""


# kubeadm's default lifetime of the certificates it issues (not the CAs').
DEFAULT_CERTIFICATE_DAYS = 365
# The first minor whose kubeadm reads configuration v1beta4 by default, the
# first to set that lifetime.
V1BETA4_FROM_MINOR = 31


class CertificateSettings(Section):
    renew_within_days: int = Field(30, ge=1)
    """kubeadm's certificates are renewed when one expires sooner; less than `validityDays`"""
    validity_days: int = Field(DEFAULT_CERTIFICATE_DAYS, ge=2, le=3650)
    """lifetime of the certificates kubeadm issues and renews (not its CAs'); a value other than 365 needs
    Kubernetes 1.31 or later and reaches existing certificates at their next renewal"""

    @model_validator(mode="after")
    def _renewal_inside_lifetime(self) -> CertificateSettings:
        if self.renew_within_days >= self.validity_days:
            raise ValueError(
                f"renewWithinDays {self.renew_within_days} is not less than validityDays {self.validity_days}: "
                "every `up` would renew; lower renewWithinDays"
            )
        return self


class ClusterConfig(Section):
    name: str = Field(min_length=1, max_length=63)
    """cluster name, also the root component's name"""
    kubernetes_version: Annotated[str, AfterValidator(check_k8s_version)]
    """`1.MINOR.PATCH`, 1.28 or later; pins kubelet/kubeadm/kubectl; a change rolls out node by node (one minor at a
    time)"""
    pod_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.244.0.0/16")
    """pod network; must not overlap `serviceCidr` or node addresses"""
    service_cidr: ipaddress.IPv4Network = ipaddress.IPv4Network("10.96.0.0/12")
    """service network"""
    dns_domain: str = "cluster.local"
    """cluster DNS domain"""
    api_endpoint: ApiEndpoint | None = None
    bootstrap: Bootstrap = Bootstrap.KUBEADM
    """`kubeadm` (machines over SSH) or `existing` (bring a kubeconfig)"""
    # Extra kube-apiserver flags (OIDC for researcher authentication, ...),
    # name without the leading dashes.
    api_server_extra_args: dict[str, str] = Field(default_factory=dict)
    """extra kube-apiserver flags without dashes (OIDC flags, ...)"""
    # Added to --enable-admission-plugins (PodNodeSelector for the KAI path).
    admission_plugins: list[str] = Field(default_factory=list)
    """added to `enable-admission-plugins` (after `NodeRestriction`)"""
    ignore_preflight_errors: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9.-]+$")]] = Field(default_factory=list)
    """kubeadm preflight checks reported but not enforced at init and join (kubeadm's own check names, e.g.
    SystemVerification), for machines whose differences from a plain server are known and harmless."""
    kube_proxy: dict[str, Any] = Field(default_factory=dict)
    """KubeProxyConfiguration fields kubeadm writes at init (kube-proxy's ConfigMap), e.g.
    `{conntrack: {maxPerCore: 0}}` on machines that may not raise the host's conntrack limit."""
    upgrade: UpgradeSettings = Field(default_factory=UpgradeSettings)
    certificates: CertificateSettings = Field(default_factory=CertificateSettings)
    # Environment marker: "prod" turns warnings (even control planes) into errors.
    environment: str = "dev"
    """`prod` turns warnings (even number of control planes) into errors"""

    @property
    def minor(self) -> str:
        major, minor, _ = self.kubernetes_version.split(".")
        return f"{major}.{minor}"

    @model_validator(mode="after")
    def _cidrs_disjoint(self) -> ClusterConfig:
        if self.pod_cidr.overlaps(self.service_cidr):
            raise ValueError(f"podCidr {self.pod_cidr} overlaps serviceCidr {self.service_cidr}: pick disjoint ranges")
        reserved = {"apiVersion", "kind"} & set(self.kube_proxy)
        if reserved:
            raise ValueError(f"kubeProxy: {', '.join(sorted(reserved))} is written by the program; leave it out")
        validity = self.certificates.validity_days
        if validity != DEFAULT_CERTIFICATE_DAYS and int(self.minor.split(".")[1]) < V1BETA4_FROM_MINOR:
            raise ValueError(
                f"certificates.validityDays {validity}: kubeadm sets a certificate lifetime from Kubernetes 1.31 "
                f"(this stack runs {self.kubernetes_version}); leave it at {DEFAULT_CERTIFICATE_DAYS} or upgrade first"
            )
        for flag in self.api_server_extra_args:
            if flag.startswith("-"):
                raise ValueError(f"apiServerExtraArgs: write {flag.lstrip('-')!r} without leading dashes")
        return self
