"""The NVIDIA GPU Operator and, for RDMA fabrics, the Network Operator."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.charts import release
from components.managed import MANAGED_BY, Component, OnCluster
from stacks.addons import RDMA_PLUGIN, Fabric
from stacks.model import StackConfig


def gpu_operator_values(config: StackConfig) -> dict[str, Any]:
    gpu = config.addons.gpu_operator
    # Node preparation installs driver and toolkit on the hosts, or the
    # operator runs them as containers: never both.
    operator_managed = not config.packages.nvidia.install_on_host
    driver: dict[str, Any] = {"enabled": operator_managed}
    network = config.addons.network_operator
    if operator_managed and network.enabled:
        # GPUDirect RDMA: the driver container loads nvidia-peermem against
        # the DOCA driver container's modules, or the hosts' MOFED.
        driver["rdma"] = {"enabled": True, "useHostMofed": not network.ofed_driver_version}
    return {
        "driver": driver,
        "toolkit": {"enabled": operator_managed},
        "mig": {"strategy": gpu.mig_strategy.value},
        "dcgmExporter": {
            "enabled": gpu.dcgm_exporter,
            "serviceMonitor": {"enabled": gpu.dcgm_exporter and config.addons.prometheus.enabled},
        },
        "nfd": {"enabled": gpu.nfd},
    }


def nic_cluster_policy(config: StackConfig) -> dict[str, Any]:
    """The Network Operator's NicClusterPolicy: the shared RDMA device plugin
    on the stack's interfaces, and the DOCA driver container when asked for."""
    network = config.addons.network_operator
    selectors: dict[str, Any] = {"ifNames": network.interfaces}
    if network.fabric is Fabric.INFINIBAND:
        selectors["linkTypes"] = ["infiniband"]
    plugin_config = {"configList": [{"resourceName": "rdma_shared_device_a", "rdmaHcaMax": 63, "selectors": selectors}]}
    spec: dict[str, Any] = {
        "rdmaSharedDevicePlugin": {
            "image": RDMA_PLUGIN,
            "repository": network.rdma_plugin_repository,
            "version": network.rdma_plugin_version,
            "config": json.dumps(plugin_config),
        }
    }
    if network.ofed_driver_version:
        spec["ofedDriver"] = {
            "image": "doca-driver",
            "repository": network.repository,
            "version": network.ofed_driver_version,
            # Reloading the driver drains the node first.
            "upgradePolicy": {"autoUpgrade": True, "maxParallelUpgrades": 1, "drain": {"enable": True}},
        }
    return spec


class GpuStack(Component):
    def __init__(self, name: str, cluster: OnCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:gpu:GpuStack", name, opts)
        config = cluster.config
        addons = config.addons
        child = self.child()
        self.ready: list[pulumi.Resource] = []
        if addons.gpu_operator.enabled:
            gpu = addons.gpu_operator
            self.ready.append(
                release(
                    f"{name}-operator",
                    gpu.chart,
                    gpu.namespace,
                    gpu_operator_values(config),
                    child,
                    gpu.values,
                    timeout=1200,
                    skip_await=addons.skip_await,
                )
            )
        if addons.network_operator.enabled:
            network = addons.network_operator
            # NFD once per cluster: the GPU Operator's when it runs one. The
            # chart's NodeFeatureRule needs NFD's CRDs, so it comes after.
            values = {"nfd": {"enabled": not (addons.gpu_operator.enabled and addons.gpu_operator.nfd)}}
            chart = release(
                f"{name}-network-operator",
                network.chart,
                network.namespace,
                values,
                self.child(depends_on=list(self.ready)),
                network.values,
                skip_await=addons.skip_await,
            )
            policy = k8s.apiextensions.CustomResource(
                f"{name}-nic-cluster-policy",
                api_version="mellanox.com/v1alpha1",
                kind="NicClusterPolicy",
                metadata={"name": "nic-cluster-policy", "labels": MANAGED_BY},
                spec=nic_cluster_policy(config),
                opts=self.child(depends_on=[chart]),
            )
            self.ready += [chart, policy]
        self.register_outputs({})
