"""MetalLB in L2 mode with the stack's address pools."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.charts import release
from components.managed import MANAGED_BY, Component, OnCluster

# The annotation that pins a Service to one address (metallb.io since 0.14.9).
LOAD_BALANCER_IPS = "metallb.io/loadBalancerIPs"

# L2 (native) mode: the 0.16 chart would otherwise run the FRR-K8s speaker.
NATIVE_MODE = {"speaker": {"frr": {"enabled": False}}, "frrk8s": {"enabled": False}}


class LoadBalancer(Component):
    """The chart, then one IPAddressPool per stack pool and one
    L2Advertisement announcing them all."""

    def __init__(self, name: str, cluster: OnCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:networking:LoadBalancer", name, opts)
        config = cluster.config
        metallb = config.addons.metallb
        chart = release(
            f"{name}-chart",
            metallb.chart,
            metallb.namespace,
            NATIVE_MODE,
            self.child(),
            metallb.values,
            skip_await=config.addons.skip_await,
        )
        after_chart = self.child(depends_on=[chart])
        pools = [
            k8s.apiextensions.CustomResource(
                f"{name}-pool-{pool.name}",
                api_version="metallb.io/v1beta1",
                kind="IPAddressPool",
                metadata={"name": pool.name, "namespace": metallb.namespace, "labels": MANAGED_BY},
                spec={"addresses": pool.addresses, "autoAssign": True},
                opts=after_chart,
            )
            for pool in metallb.pools
        ]
        spec: dict[str, object] = {"ipAddressPools": [pool.name for pool in metallb.pools]}
        if metallb.interfaces:
            spec["interfaces"] = metallb.interfaces
        advertisement = k8s.apiextensions.CustomResource(
            f"{name}-l2",
            api_version="metallb.io/v1beta1",
            kind="L2Advertisement",
            metadata={"name": "l2", "namespace": metallb.namespace, "labels": MANAGED_BY},
            spec=spec,
            opts=after_chart,
        )
        self.ready: list[pulumi.Resource] = [chart, *pools, advertisement]
        self.register_outputs({})
