"""Render kubeadm's configuration in the API version the Kubernetes version needs.

v1beta4 (default from 1.31) changed `extraArgs` from a map to a list of
{name, value}; v1beta3 is used below 1.31. The kubelet's systemd cgroup driver
is written explicitly rather than left to kubeadm's default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from stacks.cluster import DEFAULT_CERTIFICATE_DAYS, V1BETA4_FROM_MINOR

# The kubelet's own flag file is not used: settings go in KubeletConfiguration.
_KUBELET_CONFIG = {
    "apiVersion": "kubelet.config.k8s.io/v1beta1",
    "kind": "KubeletConfiguration",
    "cgroupDriver": "systemd",
    "failSwapOn": True,
}


@dataclass(frozen=True)
class InitParams:
    kubernetes_version: str
    node_name: str
    advertise_address: str
    pod_cidr: str
    service_cidr: str
    dns_domain: str
    image_repository: str
    control_plane_endpoint: str | None
    cert_sans: list[str] = field(default_factory=list)
    api_server_extra_args: dict[str, str] = field(default_factory=dict)
    admission_plugins: list[str] = field(default_factory=list)
    ignore_preflight_errors: list[str] = field(default_factory=list)
    kube_proxy: dict[str, Any] = field(default_factory=dict)
    certificate_days: int = DEFAULT_CERTIFICATE_DAYS


def _registration(node_name: str, ignore_preflight_errors: list[str]) -> dict[str, Any]:
    registration: dict[str, Any] = {"name": node_name, "criSocket": "unix:///var/run/containerd/containerd.sock"}
    if ignore_preflight_errors:
        registration["ignorePreflightErrors"] = sorted(set(ignore_preflight_errors))
    return registration


def api_version(kubernetes_version: str) -> str:
    minor = int(kubernetes_version.split(".")[1])
    return "kubeadm.k8s.io/v1beta4" if minor >= V1BETA4_FROM_MINOR else "kubeadm.k8s.io/v1beta3"


def _extra_args(version: str, args: dict[str, str]) -> Any:
    if version.endswith("v1beta4"):
        return [{"name": name, "value": value} for name, value in sorted(args.items())]
    return dict(sorted(args.items()))


def _api_server_args(params: InitParams) -> dict[str, str]:
    args = dict(params.api_server_extra_args)
    if params.admission_plugins:
        plugins = ["NodeRestriction", *params.admission_plugins]
        existing = args.get("enable-admission-plugins")
        if existing:
            plugins = [*existing.split(","), *params.admission_plugins]
        args["enable-admission-plugins"] = ",".join(dict.fromkeys(plugins))
    return args


def render_init(params: InitParams) -> str:
    """InitConfiguration + ClusterConfiguration + KubeletConfiguration (+
    KubeProxyConfiguration when the stack sets any of its fields)."""
    version = api_version(params.kubernetes_version)
    init = {
        "apiVersion": version,
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"advertiseAddress": params.advertise_address, "bindPort": 6443},
        "nodeRegistration": _registration(params.node_name, params.ignore_preflight_errors),
    }
    cluster: dict[str, Any] = {
        "apiVersion": version,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": f"v{params.kubernetes_version}",
        "imageRepository": params.image_repository,
        "networking": {
            "podSubnet": params.pod_cidr,
            "serviceSubnet": params.service_cidr,
            "dnsDomain": params.dns_domain,
        },
        "apiServer": {"certSANs": sorted(set(params.cert_sans))},
    }
    server_args = _api_server_args(params)
    if server_args:
        cluster["apiServer"]["extraArgs"] = _extra_args(version, server_args)
    if params.control_plane_endpoint:
        cluster["controlPlaneEndpoint"] = params.control_plane_endpoint
    # Written only when set, so that stacks on the default render as before.
    if params.certificate_days != DEFAULT_CERTIFICATE_DAYS:
        cluster["certificateValidityPeriod"] = f"{params.certificate_days * 24}h0m0s"
    documents = [init, cluster, _KUBELET_CONFIG]
    if params.kube_proxy:
        proxy = {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration"}
        documents.append(proxy | params.kube_proxy)
    return yaml.safe_dump_all(documents, sort_keys=False)


# Filled in on the machine by join.sh from a join command printed moments
# earlier on the first control plane; they never reach the Pulumi state.
TOKEN_PLACEHOLDER = "@TOKEN@"
CA_HASH_PLACEHOLDER = "@CA_HASH@"
ENDPOINT_PLACEHOLDER = "@ENDPOINT@"
CERT_KEY_PLACEHOLDER = "@CERT_KEY@"


def render_join(
    kubernetes_version: str,
    node_name: str,
    control_plane_address: str | None,
    ignore_preflight_errors: list[str] | None = None,
) -> str:
    """A JoinConfiguration template; `control_plane_address` makes it a
    control-plane join advertising that address."""
    version = api_version(kubernetes_version)
    join: dict[str, Any] = {
        "apiVersion": version,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": ENDPOINT_PLACEHOLDER,
                "token": TOKEN_PLACEHOLDER,
                "caCertHashes": [CA_HASH_PLACEHOLDER],
            }
        },
        "nodeRegistration": _registration(node_name, ignore_preflight_errors or []),
    }
    if control_plane_address:
        join["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": control_plane_address, "bindPort": 6443},
            "certificateKey": CERT_KEY_PLACEHOLDER,
        }
    return yaml.safe_dump(join, sort_keys=False)
