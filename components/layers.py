"""The layers between Kubernetes and Run:ai, in one ordered list: what each
is built by, when the stack installs it, and which layers it waits for.
MetalLB comes before the Services that take its addresses (ingress,
Kourier), Prometheus before the ingress controller's and the GPU Operator's
ServiceMonitors and our alert rules; the MPIJob CRD hand-over before the
Training and MPI operators happens inside the training layer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import pulumi

from components.gpu import GpuStack
from components.managed import Component, OnCluster
from components.monitoring import Monitoring
from components.networking.ingress import Ingress
from components.networking.metallb import LoadBalancer
from components.serving import Serving
from components.training.operators import TrainingOperators, training_workloads
from stacks.addons import AddonsConfig, WorkloadType
from stacks.model import StackConfig


class LayerComponent(Protocol):
    """What a layer's component gives back: the resources that must exist
    before the layers that wait for it (and Run:ai) start."""

    ready: list[pulumi.Resource]


# Every layer's component takes the same arguments, so the list can build any of them.
Build = Callable[[str, OnCluster, pulumi.ResourceOptions], LayerComponent]


@dataclass(frozen=True)
class Layer:
    """`key` names the component (`<cluster>-layers-<key>`) and is what
    other layers' `after` name."""

    key: str
    build: Build
    installed: Callable[[AddonsConfig], bool]
    after: tuple[str, ...] = ()


# In the order they are declared; each waits only for the keys in `after`
# (and for the pod network, which every layer waits for).
LAYERS: tuple[Layer, ...] = (
    Layer("metallb", LoadBalancer, lambda addons: addons.metallb.enabled),
    Layer("monitoring", Monitoring, lambda addons: addons.prometheus.enabled),
    Layer("ingress", Ingress, lambda addons: addons.ingress.enabled, after=("metallb", "monitoring")),
    Layer(
        "gpu",
        GpuStack,
        lambda addons: addons.gpu_operator.enabled or addons.network_operator.enabled,
        after=("monitoring",),
    ),
    Layer("serving", Serving, lambda addons: addons.installs(WorkloadType.INFERENCE), after=("metallb",)),
    Layer("training", TrainingOperators, lambda addons: bool(training_workloads(addons))),
)


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
    """Every installed layer of LAYERS. `ready` lists what the Run:ai control
    plane waits for; `monitoring` is what PrometheusRules wait for."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        kubeconfig: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:layers:ClusterLayers", name, opts)
        cluster = OnCluster(config, kubeconfig)
        self.ready: list[pulumi.Resource] = []
        # Each layer's ready resources; a layer not installed has none to wait for.
        built: dict[str, list[pulumi.Resource]] = {layer.key: [] for layer in LAYERS}
        for layer in LAYERS:
            if layer.installed(config.addons):
                needs = [resource for key in layer.after for resource in built[key]]
                built[layer.key] = layer.build(f"{name}-{layer.key}", cluster, self.child(needs)).ready
                self.ready += built[layer.key]
        self.monitoring = built["monitoring"]
        self.register_outputs({"dnsRecords": dns_records(config)})
