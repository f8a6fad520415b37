"""The whole stack configuration, validated in one place before any resource
is registered."""

from __future__ import annotations

import ipaddress
import warnings
from collections import Counter

from pydantic import Field, model_validator

from stacks.access import SshConfig
from stacks.base import Section
from stacks.cluster import Bootstrap, ClusterConfig
from stacks.inventory import Node, Role
from stacks.later import (
    AddonsConfig,
    BackupConfig,
    OrgConfig,
    RunaiConfig,
    SchedulerConfig,
    StorageConfig,
    ValidationConfig,
)
from stacks.packages import PackagesConfig
from stacks.preflight import PreflightConfig


class ConfigWarning(UserWarning):
    """A setting that works but is unwise (raised as an error in prod)."""


class Labels(Section):
    """Label and taint keys put on nodes; Run:ai only schedules on marked nodes."""

    system_role: str = "node-role.kubernetes.io/runai-system"
    gpu_worker_role: str = "node-role.kubernetes.io/runai-gpu-worker"
    cpu_worker_role: str = "node-role.kubernetes.io/runai-cpu-worker"
    node_pool: str = "run.ai/node-pool"
    # `maintenance: true` puts this taint on (Run:ai's drain taint).
    drain_taint_key: str = "runai"
    drain_taint_value: str = "drain"


class StackConfig(Section):
    cluster: ClusterConfig
    ssh: SshConfig = SshConfig()
    packages: PackagesConfig = PackagesConfig()
    labels: Labels = Labels()
    preflight: PreflightConfig = PreflightConfig()
    nodes: list[Node] = Field(default_factory=list)
    addons: AddonsConfig = AddonsConfig()
    runai: RunaiConfig = RunaiConfig()
    org: OrgConfig = OrgConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    storage: StorageConfig = StorageConfig()
    backup: BackupConfig = BackupConfig()
    validation: ValidationConfig = ValidationConfig()

    @property
    def is_prod(self) -> bool:
        return self.cluster.environment == "prod"

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_control_plane]

    @model_validator(mode="after")
    def _inventory(self) -> StackConfig:
        _no_duplicates("name", [n.name for n in self.nodes])
        _no_duplicates("address", [n.address for n in self.nodes])
        if self.cluster.bootstrap is Bootstrap.EXISTING:
            return self  # the cluster's shape is not ours to judge
        planes = self.control_planes
        if not planes:
            raise ValueError("nodes: no node has the 'control-plane' role; give at least one")
        if len(planes) % 2 == 0:
            message = f"nodes: {len(planes)} control planes; etcd needs an odd number (1, 3, 5) to keep quorum"
            if self.is_prod:
                raise ValueError(message)
            warnings.warn(message, ConfigWarning, stacklevel=2)
        if len(planes) > 1 and self.cluster.api_endpoint is None:
            raise ValueError(
                "cluster.apiEndpoint: required with more than one control plane "
                "(a virtual IP for kube-vip or an external load balancer's address)"
            )
        _addresses_outside_cluster_ranges(self)
        if self.ssh.require_host_keys:
            for index, node in enumerate(self.nodes):
                if not node.host_key:
                    raise ValueError(
                        f"nodes[{index}].hostKey: required because ssh.requireHostKeys is true "
                        "(copy the machine's /etc/ssh/ssh_host_ed25519_key.pub)"
                    )
        return self


def _no_duplicates(key: str, values: list[str]) -> None:
    twice = sorted(v for v, count in Counter(values).items() if count > 1)
    if twice:
        raise ValueError(f"nodes[].{key}: {', '.join(twice)} used by more than one node; each must be unique")


def _addresses_outside_cluster_ranges(config: StackConfig) -> None:
    ranges = {"podCidr": config.cluster.pod_cidr, "serviceCidr": config.cluster.service_cidr}
    for index, node in enumerate(config.nodes):
        try:
            address = ipaddress.ip_address(node.address)
        except ValueError:
            continue  # a hostname; resolved on the machine
        for key, network in ranges.items():
            if address in network:
                raise ValueError(f"nodes[{index}].address: {address} lies inside cluster.{key} {network}")


__all__ = ["ConfigWarning", "Role", "StackConfig"]
