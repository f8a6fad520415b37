"""The `addons` section: the layers Run:ai needs between kubeadm and its own
control plane (CNI, MetalLB, ingress, Prometheus, GPU and Network Operators,
Knative with Kourier, Training and MPI operators).

Every chart and manifest is pinned here with a default and can point at a
mirror or a local directory; images follow `packages.registryMirrors`, which
redirects every pull on the nodes. Each layer can be turned off for a cluster
that already has it."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Any

from pydantic import Field, field_validator, model_validator
from pydantic.alias_generators import to_camel, to_snake

from stacks.base import Chart, Section, check_host

_NAME = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"


def _range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """First and last address of "a.b.c.d-a.b.c.e" or a CIDR."""
    try:
        if "-" in text:
            first, last = (ipaddress.IPv4Address(part.strip()) for part in text.split("-", 1))
        else:
            network = ipaddress.IPv4Network(text, strict=True)
            first, last = network[0], network[-1]
    except ValueError as error:
        raise ValueError(f"{text!r} is not an IPv4 range (a.b.c.d-a.b.c.e) or CIDR: {error}") from None
    if last < first:
        raise ValueError(f"{text!r}: the range ends before it starts")
    return first, last


class CniKind(StrEnum):
    FLANNEL = "flannel"
    CALICO = "calico"


class CniConfig(Section):
    """The pod network; its CIDR is cluster.podCidr (the one source of truth)."""

    enabled: bool = True
    kind: CniKind = CniKind.FLANNEL
    """`flannel` (chart v0.28.9, namespace kube-flannel) or `calico` (tigera-operator v3.31.7; v3.32 and later are
    refused: their chart ships no CRDs); the CIDR is `cluster.podCidr`"""
    flannel: Chart = Chart(repository="https://flannel-io.github.io/flannel/", name="flannel", version="v0.28.9")
    calico: Chart = Chart(repository="https://docs.tigera.io/calico/charts", name="tigera-operator", version="v3.31.7")
    """v3.31: from v3.32 the chart ships no CRDs (they are a chart of their own) yet still creates the Installation."""
    values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _calico_with_crds(self) -> CniConfig:
        if self.enabled and self.kind is CniKind.CALICO and _calico_minor(self.calico.version) >= CALICO_WITHOUT_CRDS:
            raise ValueError(
                f"calico.version: {self.calico.version} ships no CRDs in the tigera-operator chart, and its "
                "Installation needs them on a fresh cluster; pin v3.31.x"
            )
        return self


# The first tigera-operator minor whose chart leaves the CRDs out.
CALICO_WITHOUT_CRDS = 32


def _calico_minor(version: str) -> int:
    match = re.match(r"^v?3\.(\d+)\.", version)
    return int(match[1]) if match else 0


class AddressPool(Section):
    name: str = Field("default", pattern=_NAME)
    addresses: list[str] = Field(min_length=1)
    """"a.b.c.d-a.b.c.e" ranges or CIDRs, all inside metallb.subnet."""

    @field_validator("addresses")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for text in value:
            _range(text)
        return value

    def ranges(self) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
        return [_range(text) for text in self.addresses]


class MetallbConfig(Section):
    """MetalLB in L2 mode (set explicitly: the 0.16 chart defaults to FRR-K8s)."""

    enabled: bool = True
    chart: Chart = Chart(repository="https://metallb.github.io/metallb", name="metallb", version="0.16.1")
    namespace: str = "metallb-system"
    # The L2 segment the service addresses are announced on.
    subnet: ipaddress.IPv4Network | None = None
    """the L2 segment the pools are announced on (required with pools)"""
    pools: list[AddressPool] = Field(default_factory=list)
    """`{name (default), addresses: ["a.b.c.d-a.b.c.e" or CIDR]}`; inside the subnet, no overlaps, no node address,
    outside the cluster CIDRs"""
    # Interfaces the L2 advertisement is limited to (empty: all).
    interfaces: list[str] = Field(default_factory=list)
    """limit the L2 advertisement to these NICs"""
    values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _pools(self) -> MetallbConfig:
        if not self.enabled:
            return self
        if not self.pools:
            raise ValueError("pools: give at least one address pool ({name, addresses}) or set enabled: false")
        if self.subnet is None:
            raise ValueError("subnet: the L2 segment the pools live in (e.g. 192.0.2.0/24) is required")
        seen: list[tuple[str, ipaddress.IPv4Address, ipaddress.IPv4Address]] = []
        for pool in self.pools:
            for first, last in pool.ranges():
                if first not in self.subnet or last not in self.subnet:
                    raise ValueError(f"pools.{pool.name}: {first}-{last} is not inside subnet {self.subnet}")
                for other, low, high in seen:
                    if first <= high and low <= last:
                        raise ValueError(f"pools.{pool.name}: {first}-{last} overlaps pool {other}")
                seen.append((pool.name, first, last))
        return self

    def overlapping(self, address: ipaddress.IPv4Address) -> str | None:
        """The pool whose ranges hold `address`, if any."""
        for pool in self.pools:
            if any(first <= address <= last for first, last in pool.ranges()):
                return pool.name
        return None


class IngressController(StrEnum):
    HAPROXY = "haproxy"  # HAProxy Kubernetes Ingress, what Run:ai's install guides use from 2.25
    NGINX = "nginx"  # ingress-nginx: retired in March 2026, no security fixes since


INGRESS_CHARTS = {
    IngressController.HAPROXY: Chart(
        repository="https://haproxytech.github.io/helm-charts", name="kubernetes-ingress", version="1.52.0"
    ),
    IngressController.NGINX: Chart(
        repository="https://kubernetes.github.io/ingress-nginx", name="ingress-nginx", version="4.15.1"
    ),
}
INGRESS_NAMESPACES = {IngressController.HAPROXY: "haproxy-controller", IngressController.NGINX: "ingress-nginx"}
# Many-core nodes split the file descriptors among too many workers
# ("socketpair() failed ... No file descriptors available"). ingress-nginx:
# its keys for nginx's worker_processes, worker_connections and
# worker_rlimit_nofile. HAProxy runs threads rather than processes, one per
# processor unless told: as many threads, and one connection limit for the
# lot (it sizes its descriptor limit from that; no key of its own).
INGRESS_WORKER_DEFAULTS = {
    IngressController.HAPROXY: {"nbthread": "4", "maxconn": "40960"},
    IngressController.NGINX: {
        "worker-processes": "4",
        "max-worker-connections": "10240",
        "max-worker-open-files": "65536",
    },
}


class IngressConfig(Section):
    """The cluster's default ingress class on a fixed MetalLB address: the
    HAProxy ingress controller, or ingress-nginx (retired upstream in March
    2026; still selectable, with a warning). Chart, namespace, class and
    ConfigMap settings default to the controller's own."""

    enabled: bool = True
    controller: IngressController = IngressController.HAPROXY
    """`haproxy` (HAProxy ingress controller) or `nginx` (ingress-nginx, retired in March 2026: warned)"""
    class_name: str = Field(pattern=_NAME)
    """the default IngressClass, also given to Run:ai (default: the controller's name)"""
    chart: Chart
    """the controller's chart (ingress-nginx 4.15.1 for `nginx`)"""
    namespace: str
    address: ipaddress.IPv4Address | None = None
    """fixed address from a MetalLB pool"""
    # The name users reach Run:ai by; defaults to runai.url's host.
    hostname: str | None = None
    """the name the DNS A record gives the ingress address (default: `runai.url`'s host)"""
    config: dict[str, str]
    """the controller's ConfigMap entries (default: the controller's worker settings, see docs/layers.md)"""
    values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _controller_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        try:
            controller = IngressController(data.get("controller", IngressController.HAPROXY))
        except ValueError:
            return data  # reported against `controller`
        defaults = {
            "class_name": controller.value,
            "chart": INGRESS_CHARTS[controller],
            "namespace": INGRESS_NAMESPACES[controller],
            "config": dict(INGRESS_WORKER_DEFAULTS[controller]),
        }
        given = {key for key in data} | {to_snake(key) for key in data}
        return {**{key: value for key, value in defaults.items() if key not in given}, **data}

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, value: str | None) -> str | None:
        return None if value is None else check_host(value)


class PrometheusConfig(Section):
    """kube-prometheus-stack, Grafana off: Run:ai needs Prometheus."""

    enabled: bool = True
    chart: Chart = Chart(
        repository="https://prometheus-community.github.io/helm-charts",
        name="kube-prometheus-stack",
        version="88.5.3",
    )
    namespace: str = "monitoring"
    retention: str = Field("15d", pattern=r"^\d+[smhdwy]$")
    values: dict[str, Any] = Field(default_factory=dict)


class MigStrategy(StrEnum):
    NONE = "none"
    SINGLE = "single"
    MIXED = "mixed"


# Nodes carrying this label get none of the operator's operands.
GPU_OPERANDS_LABEL = "nvidia.com/gpu.deploy.operands"


class GpuOperatorConfig(Section):
    """Driver and toolkit come from the operator unless node preparation put
    them on the hosts (packages.nvidia.installOnHost): one source of truth."""

    enabled: bool = True
    # In both Run:ai 2.25's (25.10 to 26.3) and 3.0's (25.10 to 26.7) ranges.
    chart: Chart = Chart(repository="https://helm.ngc.nvidia.com/nvidia", name="gpu-operator", version="v26.3.3")
    """the driver/toolkit switch follows `packages.nvidia.installOnHost`"""
    namespace: str = "gpu-operator"
    mig_strategy: MigStrategy = MigStrategy.SINGLE
    """`none`, `single`, `mixed`"""
    dcgm_exporter: bool = True
    """with a ServiceMonitor when Prometheus is on"""
    # false when Node Feature Discovery already runs in the cluster.
    nfd: bool = True
    """false when Node Feature Discovery already runs"""
    # GPU nodes the operator leaves alone (label gpu.deploy.operands=false).
    exclude_nodes: list[str] = Field(default_factory=list)
    """GPU nodes the operator leaves alone"""
    values: dict[str, Any] = Field(default_factory=dict)


class Fabric(StrEnum):
    INFINIBAND = "infiniband"
    ROCE = "roce"


class NetworkOperatorConfig(Section):
    """NVIDIA Network Operator for RDMA between GPU nodes (multi-node NCCL
    over InfiniBand or RoCE), off unless asked for; with it the GPU
    Operator's driver loads GPUDirect RDMA (nvidia-peermem)."""

    enabled: bool = False
    """RDMA for multi-node NCCL"""
    chart: Chart = Chart(repository="https://helm.ngc.nvidia.com/nvidia", name="network-operator", version="26.1.2")
    """In both Run:ai 2.25's (25.10 to 26.1) and 3.0's (25.10 to 26.7) ranges."""
    namespace: str = "nvidia-network-operator"
    fabric: Fabric = Fabric.INFINIBAND
    """or `roce`"""
    # RDMA-capable interfaces on the GPU nodes (e.g. ibp12s0, or the IPoIB bond).
    interfaces: list[str] = Field(default_factory=list)
    """RDMA NICs on the GPU nodes (required when enabled)"""
    # The shared RDMA device plugin network-operator 26.1.2 deploys (its
    # hack/release.yaml).
    rdma_plugin_repository: str = "nvcr.io/nvidia/mellanox"
    """the shared RDMA device plugin's image (the one network-operator 26.1.2 lists)"""
    rdma_plugin_version: str = "network-operator-v26.1.2"
    """the shared RDMA device plugin's image (the one network-operator 26.1.2 lists) (default:
    `nvcr.io/nvidia/mellanox`, `network-operator-v26.1.2`)"""
    # The DOCA/OFED driver container (nvcr.io/nvidia/mellanox/doca-driver);
    # an empty version keeps the hosts' driver.
    repository: str = "nvcr.io/nvidia/mellanox"
    """the DOCA driver container; an empty version keeps the hosts' driver. With the GPU Operator's driver, GPUDirect
    RDMA (`nvidia-peermem`) is turned on"""
    ofed_driver_version: str = ""
    """the DOCA driver container; an empty version keeps the hosts' driver. With the GPU Operator's driver, GPUDirect
    RDMA (`nvidia-peermem`) is turned on"""
    values: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _interfaces(self) -> NetworkOperatorConfig:
        if self.enabled and not self.interfaces:
            raise ValueError("interfaces: name the RDMA NICs on the GPU nodes (e.g. [ibp12s0]) or set enabled: false")
        return self

    @property
    def rdma_plugin_image(self) -> str:
        return f"{self.rdma_plugin_repository.rstrip('/')}/{RDMA_PLUGIN}:{self.rdma_plugin_version}"


RDMA_PLUGIN = "k8s-rdma-shared-dev-plugin"


# What Run:ai's inference needs switched on in Knative's config-features.
KNATIVE_FEATURES = {
    feature: "enabled"
    for feature in (
        "kubernetes.podspec-schedulername",
        "kubernetes.podspec-affinity",
        "kubernetes.podspec-tolerations",
        "kubernetes.podspec-volumes-emptydir",
        "kubernetes.podspec-securitycontext",
        "kubernetes.containerspec-addcapabilities",
        "kubernetes.podspec-persistent-volume-claim",
        "kubernetes.podspec-persistent-volume-write",
        "multi-container",
        "kubernetes.podspec-init-containers",
    )
}


class KnativeConfig(Section):
    """Knative Serving with Kourier on a MetalLB address, for Run:ai inference."""

    enabled: bool = True
    version: str = Field("1.21.1", pattern=r"^\d+\.\d+\.\d+$")
    """In both Run:ai 2.25's (1.19 to 1.21) and 3.0's (1.21 to 1.23) ranges; the newest patch net-kourier also
    released."""
    # Where serving-crds.yaml and serving-core.yaml, and kourier.yaml, are:
    # the release downloads, or a local directory for an air-gapped site.
    serving_source: str = "https://github.com/knative/serving/releases/download/knative-v{version}/"
    """a URL or local directory holding serving-crds.yaml, serving-core.yaml / kourier.yaml (default: the GitHub
    release downloads (`{version}` filled in))"""
    kourier_source: str = "https://github.com/knative-extensions/net-kourier/releases/download/knative-v{version}/"
    """a URL or local directory holding serving-crds.yaml, serving-core.yaml / kourier.yaml (default: the GitHub
    release downloads (`{version}` filled in))"""
    # The wildcard domain inference services get (*.domain -> Kourier's address).
    domain: str | None = None
    """wildcard domain for inference services (required from one of them) (default: `ingress.hostname` or `runai.url`'s
    host)"""
    # Second wildcard for sub-domain tools, e.g. inference.example.com: a DNS
    # record only, since Knative gives every route one default domain.
    subdomain: str | None = None
    """second wildcard for sub-domain tools: a DNS record only (Knative gives routes `knative.domain`, its one default
    domain)"""
    address: ipaddress.IPv4Address | None = None
    """Kourier's fixed MetalLB address (not the ingress's)"""
    scale_to_zero: bool = True
    features: dict[str, str] = Field(default_factory=lambda: dict(KNATIVE_FEATURES))
    """`config-features` entries (default: what Run:ai needs)"""

    @field_validator("domain", "subdomain")
    @classmethod
    def _domain(cls, value: str | None) -> str | None:
        if value is not None:
            check_host(value.removeprefix("*."))
            return value.removeprefix("*.")
        return value

    def source(self, base: str, file: str) -> str:
        return _join(base.format(version=self.version), file)


class TrainingConfig(Section):
    """Kubeflow Training Operator v1 with MPI off, then the MPI Operator
    (v2beta1). The Training Operator's own MPIJob CRD is never installed; on a
    cluster that has it with MPIJobs in it, `acknowledgeMpiJobMigration: true`
    is required before it is deleted (its MPIJobs go with it)."""

    enabled: bool = True
    version: str = Field("1.8.1", pattern=r"^\d+\.\d+\.\d+$")
    """Training Operator"""
    # A kustomize directory: the upstream overlay (git, needs git on the
    # machine running Pulumi) or a local copy of it.
    source: str = "https://github.com/kubeflow/training-operator.git//manifests/overlays/standalone?ref=v{version}"
    """a kustomize directory, local for air-gapped sites (default: the upstream standalone overlay (git))"""
    schemes: list[str] = Field(default_factory=lambda: ["tfjob", "pytorchjob", "xgboostjob"])
    """`mpijob` is refused"""
    mpi_operator_version: str = Field("0.6.0", pattern=r"^\d+\.\d+\.\d+$")
    mpi_operator_source: str = (
        "https://raw.githubusercontent.com/kubeflow/mpi-operator/v{version}/deploy/v2beta1/mpi-operator.yaml"
    )
    """URL or local file (default: the v2beta1 manifest at that tag)"""
    acknowledge_mpi_job_migration: bool = False
    """allow deleting an existing Training Operator MPIJob CRD that still holds MPIJobs"""

    @field_validator("schemes")
    @classmethod
    def _no_mpi(cls, value: list[str]) -> list[str]:
        if "mpijob" in (scheme.lower() for scheme in value):
            raise ValueError("mpijob: MPIJobs belong to the MPI Operator (v2beta1); remove it from schemes")
        return value

    @property
    def kustomization(self) -> str:
        return self.source.format(version=self.version)

    @property
    def mpi_operator_manifest(self) -> str:
        return self.mpi_operator_source.format(version=self.mpi_operator_version)


def _join(base: str, file: str) -> str:
    return base if base.endswith(".yaml") else f"{base.rstrip('/')}/{file}"


class WorkloadType(StrEnum):
    """Run:ai workload types that need a framework in the cluster (Run:ai's
    "features"; workspaces and single-node training need none)."""

    INFERENCE = "inference"  # Knative Serving with Kourier
    DISTRIBUTED = "distributed"  # the Training Operator's PyTorch, TensorFlow and XGBoost jobs
    MPI = "mpi"  # the MPI Operator's MPIJobs


class AddonsConfig(Section):
    # Do not wait for the layers' Deployments to become ready (a cluster
    # whose nodes come later, or a first look); the default waits.
    skip_await: bool = False
    """do not wait for the layers' Deployments to become ready"""
    # The workload types the cluster runs: Knative, the Training Operator and
    # the MPI Operator are installed only for these.
    workload_types: list[WorkloadType] = Field(default_factory=lambda: list(WorkloadType))
    """the Run:ai workload types the cluster runs: Knative (`inference`), the Training Operator (`distributed`) and the
    MPI Operator (`mpi`) are installed only for these"""
    cni: CniConfig = CniConfig()
    metallb: MetallbConfig = MetallbConfig(enabled=False)
    ingress: IngressConfig = IngressConfig.model_validate({})
    prometheus: PrometheusConfig = PrometheusConfig()
    gpu_operator: GpuOperatorConfig = GpuOperatorConfig()
    network_operator: NetworkOperatorConfig = NetworkOperatorConfig()
    knative: KnativeConfig = KnativeConfig()
    training: TrainingConfig = TrainingConfig()

    def installs(self, workload: WorkloadType) -> bool:
        """Whether the stack installs `workload`'s framework: the type is
        enabled and its layer not turned off (a cluster that has it)."""
        layer = self.knative if workload is WorkloadType.INFERENCE else self.training
        return workload in self.workload_types and layer.enabled

    @model_validator(mode="after")
    def _addresses(self) -> AddonsConfig:
        for key, layer in (("ingress", self.ingress), ("knative", self.knative)):
            if not layer.enabled or layer.address is None:
                continue
            if not self.metallb.enabled:
                raise ValueError(f"{key}.address: needs metallb (enabled, with pools) to hand it out")
            if self.metallb.overlapping(layer.address) is None:
                raise ValueError(f"{key}.address: {layer.address} is in none of metallb.pools")
        if (
            self.ingress.enabled
            and self.knative.enabled
            and self.ingress.address is not None
            and self.ingress.address == self.knative.address
        ):
            raise ValueError("knative.address: the same as ingress.address; Kourier needs its own address")
        return self


def layers_off() -> dict[str, dict[str, bool]]:
    """The `addons` setting of a cluster that already has every layer."""
    layers = [
        name
        for name, field in AddonsConfig.model_fields.items()
        if isinstance(field.annotation, type) and issubclass(field.annotation, Section)
    ]
    return {to_camel(layer): {"enabled": False} for layer in layers}
