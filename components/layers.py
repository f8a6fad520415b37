"""The layers between Kubernetes and Run:ai, each after what it needs:
MetalLB before the Services that take its addresses (ingress, Kourier),
Prometheus before the ingress controller's and the GPU Operator's
ServiceMonitors and our alert rules, the
MPIJob CRD hand-over before the Training and MPI operators."""

from __future__ import annotations

import pulumi

from components.gpu import GpuStack
from components.managed import Component
from components.monitoring import Monitoring
from components.networking.ingress import Ingress
from components.networking.metallb import LoadBalancer
from components.serving import Serving
from components.training.operators import TrainingOperators
from stacks.addons import WorkloadType
from stacks.model import StackConfig


def dns_records(config: StackConfig) -> list[dict[str, str]]:
    """The A records the site's DNS must hold for the fixed addresses."""
    addons = config.addons
    records = []
    if addons.ingress.enabled and addons.ingress.address and config.runai_host:
        records.append({"name": config.runai_host, "type": "A", "address": str(addons.ingress.address)})
    if addons.installs(WorkloadType.INFERENCE) and addons.knative.address:
        for domain in (config.inference_domain, addons.knative.subdomain):
            if domain:
                records.append({"name": f"*.{domain}", "type": "A", "address": str(addons.knative.address)})
    return records


class ClusterLayers(Component):
    """`ready` lists what the Run:ai control plane waits for; `monitoring`
    is what PrometheusRules wait for."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        kubeconfig: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:layers:ClusterLayers", name, opts)
        addons = config.addons
        self.ready: list[pulumi.Resource] = []

        def after(*needs: list[pulumi.Resource]) -> pulumi.ResourceOptions:
            return self.child(depends_on=[r for need in needs for r in need])

        addresses: list[pulumi.Resource] = []
        if addons.metallb.enabled:
            addresses = LoadBalancer(f"{name}-metallb", config, after()).ready
            self.ready += addresses
        self.monitoring: list[pulumi.Resource] = []
        if addons.prometheus.enabled:
            self.monitoring = [Monitoring(f"{name}-monitoring", config, after()).release]
            self.ready += self.monitoring
        if addons.ingress.enabled:
            self.ready.append(Ingress(f"{name}-ingress", config, after(addresses, self.monitoring)).release)
        if addons.gpu_operator.enabled or addons.network_operator.enabled:
            self.ready += GpuStack(f"{name}-gpu", config, after(self.monitoring)).ready
        if addons.installs(WorkloadType.INFERENCE):
            self.ready += Serving(f"{name}-serving", config, kubeconfig, after(addresses)).ready
        operators = {workload for workload in (WorkloadType.DISTRIBUTED, WorkloadType.MPI) if addons.installs(workload)}
        if operators:
            self.ready += TrainingOperators(
                f"{name}-training", addons.training, kubeconfig, addons.skip_await, operators, after()
            ).ready
        self.register_outputs({"dnsRecords": dns_records(config)})
