"""The whole stack configuration, validated in one place before any resource
is registered."""

from __future__ import annotations

import ipaddress
import warnings
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from stacks.access import SshConfig
from stacks.addons import AddonsConfig, IngressController, WorkloadType
from stacks.alerts import AlertsConfig
from stacks.backup import BackupConfig
from stacks.base import Section
from stacks.cluster import Bootstrap, ClusterConfig
from stacks.inventory import Node, Role
from stacks.org import OrgConfig, PoolQuota
from stacks.packages import PackagesConfig
from stacks.preflight import PreflightConfig
from stacks.rules import SHARED_RULES
from stacks.runai import RunaiConfig
from stacks.scheduling import NON_PREEMPTIBLE, SchedulerConfig, SchedulerKind
from stacks.storage import Provisioner, StorageConfig
from stacks.upgrade import DEFAULT_POOL
from stacks.validation import ValidationConfig

# GPU families with Multi-Instance GPU.
MIG_CAPABLE = ("A30", "A100", "A800", "H100", "H800", "H200", "H20", "B100", "B200", "GB200")


# Addresses MetalLB hands out from its pools (the others must stay outside them).
SERVICE_ADDRESS_KEYS = ("addons.ingress.address", "addons.knative.address")


class ConfigWarning(UserWarning):
    """A setting that works but is unwise (raised as an error in prod)."""


class Labels(Section):
    """Label and taint keys put on nodes; Run:ai only schedules on marked nodes."""

    system_role: str = "node-role.kubernetes.io/runai-system"
    """label for `system` nodes"""
    gpu_worker_role: str = "node-role.kubernetes.io/runai-gpu-worker"
    """label for `gpu-worker` nodes"""
    cpu_worker_role: str = "node-role.kubernetes.io/runai-cpu-worker"
    """label for `cpu-worker` nodes"""
    node_pool: str = "run.ai/node-pool"
    """label carrying a node's `nodePool`"""
    # `maintenance: true` puts this taint on (Run:ai's drain taint).
    drain_taint_key: str = "runai"
    """taint for `maintenance: true`"""
    drain_taint_value: str = "drain"
    """taint value for `maintenance: true`"""


class StackConfig(Section):
    cluster: ClusterConfig
    ssh: SshConfig = SshConfig()
    packages: PackagesConfig = PackagesConfig()
    labels: Labels = Labels()
    preflight: PreflightConfig = PreflightConfig()
    nodes: list[Node] = Field(default_factory=list)
    addons: AddonsConfig = AddonsConfig()
    """Every layer has `enabled` (true, except `metallb` until it has pools and `networkOperator`) and, where it is a
    chart, `chart: {repository, name, version}` and `values` (laid over ours key by key)."""
    runai: RunaiConfig = RunaiConfig()
    org: OrgConfig = OrgConfig()
    """One organisation for both schedulers. A quota is a number (0 or more) or `unlimited`; both schedulers write
    `unlimited` as -1. Quota keys per pool: `gpu`, `gpuLimit`, `cpu` (cores), `cpuLimit`, `memoryGb`, `memoryGbLimit`
    (`gpu` defaults to 0; `cpu` or `memoryGb` left unset is not managed, which the KAI path writes as an unlimited
    quota; limits default to `unlimited`), `overQuotaWeight` (1: share of idle capacity among equal
    priorities), `order` (1: the order pools are tried; Run:ai workloads can queue forever with GPUs free when it is
    unset). Roles: `researcher` (submit and manage workloads), `ml-engineer` (the same, meant for inference),
    `viewer` (read only), `department-admin` (researcher in every project of its department)."""
    scheduler: SchedulerConfig = SchedulerConfig()
    storage: StorageConfig = StorageConfig()
    backup: BackupConfig = BackupConfig()
    alerts: AlertsConfig = AlertsConfig()
    validation: ValidationConfig = ValidationConfig()

    @property
    def is_prod(self) -> bool:
        return self.cluster.environment == "prod"

    @property
    def control_planes(self) -> list[Node]:
        return [n for n in self.nodes if n.is_control_plane]

    @property
    def node_pools(self) -> dict[str, int]:
        """Each node pool with the GPUs of its nodes."""
        pools: dict[str, int] = {}
        for node in self.nodes:
            if node.node_pool:
                pools[node.node_pool] = pools.get(node.node_pool, 0) + (node.gpu.count if node.gpu else 0)
        return pools

    @property
    def worker_pools(self) -> dict[str, list[Node]]:
        """The workers by node pool (DEFAULT_POOL for those without one):
        the units a rollout sizes its waves by."""
        pools: dict[str, list[Node]] = {}
        for node in self.nodes:
            if not node.is_control_plane:
                pools.setdefault(node.node_pool or DEFAULT_POOL, []).append(node)
        return pools

    @property
    def oidc_flags(self) -> dict[str, str]:
        """kube-apiserver's OIDC flags: the KAI path's identity provider, or
        Run:ai's researcher authentication."""
        oidc = self.scheduler.oidc
        if oidc:
            return oidc.api_server_flags()
        return self.runai.api_server_flags() if self.scheduler.kind is SchedulerKind.RUNAI else {}

    @property
    def api_server_extra_args(self) -> dict[str, str]:
        """The cluster's flags plus the OIDC flags; behind an endpoint, the
        shutdown delay that lets it drain a server going down."""
        args = {**self.cluster.api_server_extra_args, **self.oidc_flags}
        endpoint = self.cluster.api_endpoint
        if endpoint and endpoint.shutdown_delay_seconds:
            args.setdefault("shutdown-delay-duration", f"{endpoint.shutdown_delay_seconds}s")
        return args

    @property
    def admission_plugins(self) -> list[str]:
        """The KAI path's per-project node selectors need PodNodeSelector."""
        plugins = list(self.cluster.admission_plugins)
        if self.scheduler.kind is SchedulerKind.KAI and "PodNodeSelector" not in plugins:
            plugins.append("PodNodeSelector")
        return plugins

    @property
    def runai_host(self) -> str | None:
        """The name users reach Run:ai by: the ingress setting, else runai.url's host."""
        if self.addons.ingress.hostname:
            return self.addons.ingress.hostname
        return urlsplit(self.runai.url).hostname if self.runai.url else None

    @property
    def inference_domain(self) -> str | None:
        return self.addons.knative.domain or self.runai_host

    @property
    def component_versions(self) -> dict[str, str]:
        """Versions the compatibility table judges: only what the stack
        installs (a layer turned off, or a workload type not enabled, is not
        ours to judge)."""
        addons = self.addons
        installed = {
            "kubernetes": (True, self.cluster.kubernetes_version),
            "gpuOperator": (addons.gpu_operator.enabled, addons.gpu_operator.chart.version),
            "networkOperator": (addons.network_operator.enabled, addons.network_operator.chart.version),
            "prometheusStack": (addons.prometheus.enabled, addons.prometheus.chart.version),
            "knative": (addons.installs(WorkloadType.INFERENCE), addons.knative.version),
            "trainingOperator": (addons.installs(WorkloadType.DISTRIBUTED), addons.training.version),
            "mpiOperator": (addons.installs(WorkloadType.MPI), addons.training.mpi_operator_version),
        }
        return {component: version for component, (install, version) in installed.items() if install}

    def priority_names(self) -> list[dict[str, str]]:
        """Every place the stack names a priority class: project defaults and
        workload-policy defaults (`defaults.priorityClass`)."""
        names = [
            {
                "where": f"org.departments[{d}].projects[{p}].defaultPriorityClass",
                "name": project.default_priority_class,
            }
            for d, department in enumerate(self.org.departments)
            for p, project in enumerate(department.projects)
            if project.default_priority_class
        ]
        names += [
            {
                "where": f"org.workloadPolicies[{index}].defaults.priorityClass",
                "name": str(policy.defaults["priorityClass"]),
            }
            for index, policy in enumerate(self.org.workload_policies)
            if "priorityClass" in policy.defaults
        ]
        return names

    def priority_summary(self) -> dict[str, object]:
        """What the policy pack judges priorities by: the classes this path has
        and every name the stack uses."""
        return {"availableClasses": self.scheduler.priority_classes(), "priorityNames": self.priority_names()}

    @model_validator(mode="after")
    def _addons(self) -> StackConfig:
        addons = self.addons
        metallb = addons.metallb
        if metallb.enabled:
            for pool in metallb.pools:
                for first, last in pool.ranges():
                    for key, network in (
                        ("podCidr", self.cluster.pod_cidr),
                        ("serviceCidr", self.cluster.service_cidr),
                    ):
                        if first <= network[-1] and network[0] <= last:
                            raise ValueError(f"addons.metallb.pools.{pool.name}: overlaps cluster.{key} {network}")
        gpu_nodes = {n.name for n in self.nodes if n.gpu}
        if addons.gpu_operator.enabled and addons.gpu_operator.mig_strategy.value == "mixed":
            models = sorted({n.gpu.model for n in self.nodes if n.gpu})
            if not any(family in model.upper() for model in models for family in MIG_CAPABLE):
                raise ValueError(
                    f"addons.gpuOperator.migStrategy: mixed needs MIG-capable GPUs ({', '.join(MIG_CAPABLE)}); "
                    f"the inventory declares {', '.join(models) or 'none'}: use single or none"
                )
        for name in addons.gpu_operator.exclude_nodes:
            if name not in gpu_nodes:
                raise ValueError(
                    f"addons.gpuOperator.excludeNodes: '{name}' is not a GPU node of the inventory "
                    f"({', '.join(sorted(gpu_nodes)) or 'none'})"
                )
        if addons.installs(WorkloadType.INFERENCE) and self.inference_domain is None:
            raise ValueError(
                "addons.knative.domain: required (the wildcard domain inference services get, e.g. "
                "runai.example.com), or set runai.url, or knative.enabled: false, or leave inference out of "
                "addons.workloadTypes"
            )
        if addons.ingress.enabled and addons.ingress.controller is IngressController.NGINX:
            warnings.warn(
                "addons.ingress.controller: nginx (ingress-nginx) was retired in March 2026 and gets no security "
                "fixes; switch to haproxy",
                ConfigWarning,
                stacklevel=2,
            )
        return self

    @model_validator(mode="after")
    def _organisation(self) -> StackConfig:
        if self.oidc_flags:
            both = sorted(set(self.cluster.api_server_extra_args) & set(self.oidc_flags))
            if both:
                source = "scheduler.kai.oidc" if self.scheduler.oidc else "runai.researcherAuthentication"
                raise ValueError(
                    f"cluster.apiServerExtraArgs: {', '.join(both)} would also be set by {source}; "
                    "set them in one place"
                )
        pools = self.node_pools
        classes = self.scheduler.priority_classes()
        kai = self.scheduler.kind is SchedulerKind.KAI
        if kai and self.org.local_users:
            raise ValueError(
                "org.localUsers: Run:ai local users; on the KAI path people come from scheduler.kai.oidc, remove them"
            )
        if kai and self.org.applications:
            raise ValueError("org.applications: Run:ai applications; the KAI path has none, remove them")
        if self.org.applications and self.runai.url and self.runai.admin.application in self.org.applications:
            raise ValueError(
                f"org.applications: '{self.runai.admin.application}' is the stack's own application "
                "(runai.admin.application); name yours differently"
            )
        for d, department in enumerate(self.org.departments):
            where = f"org.departments[{d}]"
            _quotas_on_known_pools(where, department.quotas, pools, kai)
            if self.org.no_preemption and department.over_quota:
                raise ValueError(f"{where}.overQuota: org.noPreemption is true; set overQuota: false")
            for p, project in enumerate(department.projects):
                at = f"{where}.projects[{p}]"
                _quotas_on_known_pools(at, project.quotas, pools, kai)
                if self.org.no_preemption and project.over_quota:
                    raise ValueError(f"{at}.overQuota: org.noPreemption is true; set overQuota: false")
                if kai and project.name in {d.name for d in self.org.departments}:
                    raise ValueError(
                        f"{at}.name: '{project.name}' is also a department; KAI queues share one namespace, rename one"
                    )
                if kai and project.default_priority_class is not None:
                    raise ValueError(
                        f"{at}.defaultPriorityClass: the KAI path has no per-project default; remove it and set "
                        "scheduler.kai.globalDefaultPriorityClass or name the class in the workloads"
                    )
        for named in self.priority_names():
            where, name = named["where"], named["name"]
            if name not in classes:
                raise ValueError(
                    f"{where}: {name!r} does not exist on the {self.scheduler.kind} path; "
                    f"use one of {', '.join(sorted(classes, key=classes.__getitem__))}"
                )
            if self.org.no_preemption and classes[name] < NON_PREEMPTIBLE:
                raise ValueError(
                    f"{where}: {name!r} ({classes[name]}) is preemptible but "
                    f"org.noPreemption is true; use a class of {NON_PREEMPTIBLE} or more"
                )
        return self

    @model_validator(mode="after")
    def _validation(self) -> StackConfig:
        validation = self.validation
        if not validation.enabled:
            return self
        projects = [p.name for _, p in self.org.projects]
        if validation.project not in projects:
            raise ValueError(
                f"validation.project: '{validation.project}' is not a project in org "
                f"({', '.join(projects) or 'none'}); add it to a department"
            )
        gpu_nodes = [n for n in self.nodes if n.gpu]
        for key, test in (("nccl", validation.nccl), ("hpl", validation.hpl)):
            if test is None:
                continue
            if test.nodes > len(gpu_nodes):
                raise ValueError(
                    f"validation.{key}.nodes: {test.nodes}, but the inventory has {len(gpu_nodes)} GPU nodes"
                )
            fewest = min(n.gpu.count for n in gpu_nodes if n.gpu)
            if test.gpus_per_node > fewest:
                raise ValueError(
                    f"validation.{key}.gpusPerNode: {test.gpus_per_node}, but a GPU node may have {fewest}; "
                    f"use {fewest} or fewer"
                )
            if not self.addons.installs(WorkloadType.MPI):
                raise ValueError(
                    f"validation.{key}: runs as an MPIJob; add mpi to addons.workloadTypes (with addons.training on)"
                )
        if validation.autoscale and not self.addons.installs(WorkloadType.INFERENCE):
            raise ValueError(
                "validation.autoscale: needs Knative; add inference to addons.workloadTypes (with addons.knative "
                "on) or remove autoscale"
            )
        if validation.fraction and self.scheduler.kind is SchedulerKind.KAI and not self.scheduler.kai.gpu_sharing:
            raise ValueError("validation.fraction: GPU fractions need scheduler.kai.gpuSharing; set it or fraction: 0")
        return self

    @model_validator(mode="after")
    def _storage(self) -> StackConfig:
        departments = {d.name for d in self.org.departments}
        for index, share in enumerate(self.storage.shares):
            if share.department not in departments:
                raise ValueError(
                    f"storage.shares[{index}].department: '{share.department}' is not in org.departments "
                    f"({', '.join(sorted(departments)) or 'none'})"
                )
        if (
            self.runai.control_plane.install
            and self.storage.provisioner is Provisioner.NONE
            and self.cluster.bootstrap is Bootstrap.KUBEADM
        ):
            raise ValueError(
                "storage.provisioner: none, but a kubeadm cluster has no default StorageClass and Run:ai's control "
                "plane keeps its database and metrics on volumes (about 110 GB): set provisioner: nfs"
            )
        if self.storage.provisioner is Provisioner.LOCAL_PATH and len(self.nodes) > 1 and self.is_prod:
            raise ValueError(
                "storage.provisioner: local-path keeps data on one node's disk; use nfs for a production cluster"
            )
        return self

    @model_validator(mode="after")
    def _inventory(self) -> StackConfig:
        _no_duplicates("name", [n.name for n in self.nodes])
        _no_duplicates("address", [n.address for n in self.nodes])
        if self.cluster.bootstrap is Bootstrap.EXISTING:
            return self  # the cluster's shape is not ours to judge
        planes = self.control_planes
        if not planes:
            raise ValueError("nodes: no node has the 'control-plane' role; give at least one")
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

    @model_validator(mode="after")
    def _upgrade_pools(self) -> StackConfig:
        known = self.worker_pools
        for pool in self.cluster.upgrade.pools:
            if pool not in known:
                raise ValueError(
                    f"cluster.upgrade.pools.{pool}: no worker is in node pool {pool!r}; name one of "
                    f"{', '.join(sorted(known)) or '(none)'} (workers without nodePool are in {DEFAULT_POOL!r})"
                )
        return self

    @model_validator(mode="after")
    def _addresses_apart(self) -> StackConfig:
        """Each machine, endpoint and fixed service address is its own: a
        collision would send one's traffic to another (a VIP announced over
        a node, a MetalLB pool handing out the bastion's address)."""
        seen: dict[str, str] = {}
        for key, address in self.named_addresses():
            if address.lower() in seen:
                raise ValueError(f"{key}: {address} is also {seen[address.lower()]}; give each its own address")
            seen[address.lower()] = key
            if key in SERVICE_ADDRESS_KEYS or not self.addons.metallb.enabled:
                continue
            try:
                pool = self.addons.metallb.overlapping(ipaddress.IPv4Address(address))
            except ValueError:
                continue  # a hostname
            if pool:
                raise ValueError(
                    f"addons.metallb.pools.{pool}: holds {key} {address}; keep service addresses apart from "
                    "the machines' and the endpoints'"
                )
        return self

    @model_validator(mode="after")
    def _shared_rules(self) -> StackConfig:
        """The rules the policy pack judges too (stacks/rules.py), on the
        summary it reads: fatal in production, warned elsewhere. Last, so
        the model's own refusals come first."""
        summary = self.inventory_summary()
        for rule in SHARED_RULES:
            for problem in rule(summary):
                if self.is_prod:
                    raise ValueError(problem)
                warnings.warn(problem, ConfigWarning, stacklevel=2)
        return self

    def inventory_summary(self) -> dict[str, Any]:
        """What the root component publishes and the policy pack judges."""
        return {
            "environment": self.cluster.environment,
            "bootstrap": self.cluster.bootstrap.value,
            "kubernetesVersion": self.cluster.kubernetes_version,
            "controlPlanes": [n.name for n in self.control_planes],
            "systemNodes": [n.name for n in self.nodes if Role.SYSTEM in n.roles],
            "unpinnedHostKeys": [n.name for n in self.nodes if not n.host_key],
            "scheduler": self.scheduler.kind.value,
            "runaiVersion": self.runai.version,
            "nodePoolGpus": self.node_pools,
            "gpuNodesWithoutPool": [n.name for n in self.nodes if n.gpu and not n.node_pool],
            "noPreemption": self.org.no_preemption,
            "etcdBackups": self.backup.enabled,
            "componentVersions": self.component_versions,
        }

    def named_addresses(self) -> list[tuple[str, str]]:
        """(key, address) of every single address the stack names."""
        named = [(f"nodes[{index}].address", node.address) for index, node in enumerate(self.nodes)]
        if self.cluster.api_endpoint:
            named.append(("cluster.apiEndpoint.host", self.cluster.api_endpoint.host))
        if self.ssh.bastion:
            named.append(("ssh.bastion.host", self.ssh.bastion.host))
        for key, layer in zip(SERVICE_ADDRESS_KEYS, (self.addons.ingress, self.addons.knative), strict=True):
            if layer.enabled and layer.address is not None:
                named.append((key, str(layer.address)))
        return named


def _no_duplicates(key: str, values: list[str]) -> None:
    twice = sorted(v for v, count in Counter(values).items() if count > 1)
    if twice:
        raise ValueError(f"nodes[].{key}: {', '.join(twice)} used by more than one node; each must be unique")


def _quotas_on_known_pools(where: str, quotas: dict[str, PoolQuota], pools: dict[str, int], kai: bool) -> None:
    for pool in quotas:
        if pool not in pools:
            known = ", ".join(sorted(pools)) or "none: set nodePool on the nodes"
            raise ValueError(f"{where}.quotas.{pool}: no node is in node pool '{pool}' (pools: {known})")
    if kai and len(quotas) > 1:
        raise ValueError(
            f"{where}.quotas: {len(quotas)} node pools ({', '.join(quotas)}); on the KAI path a queue has one "
            "set of quotas and a namespace one node selector: keep one pool"
        )


def _addresses_outside_cluster_ranges(config: StackConfig) -> None:
    ranges = {"podCidr": config.cluster.pod_cidr, "serviceCidr": config.cluster.service_cidr}
    for name, text in config.named_addresses():
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            continue  # a hostname; resolved on the machine
        for key, network in ranges.items():
            if address in network:
                raise ValueError(f"{name}: {address} lies inside cluster.{key} {network}")


__all__ = ["ConfigWarning", "Role", "StackConfig"]
