"""The ingress controller (HAProxy, or the retired ingress-nginx): the
default ingress class, on a fixed MetalLB address."""

from __future__ import annotations

from typing import Any

import pulumi

from components.charts import release
from components.managed import Component, OnCluster
from components.networking.metallb import LOAD_BALANCER_IPS
from stacks.addons import IngressController
from stacks.model import StackConfig


def ingress_values(config: StackConfig) -> dict[str, Any]:
    ingress = config.addons.ingress
    monitored = config.addons.prometheus.enabled
    service: dict[str, Any] = {"type": "LoadBalancer"}
    if ingress.address is not None:
        service["annotations"] = {LOAD_BALANCER_IPS: str(ingress.address)}
    controller: dict[str, Any] = {
        # Run:ai needs one default class; its ingresses name none.
        "ingressClassResource": {"name": ingress.class_name, "default": True},
        "ingressClass": ingress.class_name,
        "config": ingress.config,
        "service": service,
    }
    # Scraped through a ServiceMonitor (Prometheus selects every release's).
    if ingress.controller is IngressController.NGINX:
        controller["metrics"] = {"enabled": monitored, "serviceMonitor": {"enabled": monitored}}
    else:
        controller["serviceMonitor"] = {"enabled": monitored}
    return {"controller": controller}


class Ingress(Component):
    def __init__(self, name: str, cluster: OnCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:networking:Ingress", name, opts)
        config = cluster.config
        ingress = config.addons.ingress
        chart = release(
            f"{name}-{ingress.controller.value}",
            ingress.chart,
            ingress.namespace,
            ingress_values(config),
            self.child(),
            ingress.values,
            skip_await=config.addons.skip_await,
        )
        self.ready: list[pulumi.Resource] = [chart]
        self.register_outputs({})
