"""Knative Serving with Kourier, configured as Run:ai's inference needs it."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.crd_guard import CrdGuard
from components.managed import Component, OnCluster
from components.networking.metallb import LOAD_BALANCER_IPS
from stacks.model import StackConfig

NAMESPACE = "knative-serving"
# Where users' objects live (Run:ai inference creates Knative Services).
SERVING_CRDS = [
    "services.serving.knative.dev",
    "configurations.serving.knative.dev",
    "revisions.serving.knative.dev",
    "routes.serving.knative.dev",
]
KOURIER_CLASS = "kourier.ingress.networking.knative.dev"


def knative_settings(config: StackConfig) -> dict[str, dict[str, str]]:
    """Each knative-serving ConfigMap we own keys of, with those keys."""
    knative = config.addons.knative
    # One domain with an empty selector: of several, Knative gives every
    # route the alphabetically first.
    domains = {config.inference_domain: ""} if config.inference_domain else {}
    return {
        "config-network": {"ingress-class": KOURIER_CLASS},
        "config-domain": domains,
        "config-autoscaler": {"enable-scale-to-zero": str(knative.scale_to_zero).lower()},
        "config-features": knative.features,
    }


class Serving(Component):
    """CRDs, core and Kourier from the release manifests (or a local copy),
    then our keys of the ConfigMaps by server-side apply, then Kourier's
    Service pinned to its MetalLB address."""

    def __init__(self, name: str, cluster: OnCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:serving:Serving", name, opts)
        config = cluster.config
        knative = config.addons.knative

        def manifest(part: str, source: str, after: list[pulumi.Resource]) -> k8s.yaml.v2.ConfigFile:
            return k8s.yaml.v2.ConfigFile(
                f"{name}-{part}",
                file=knative.source(source, f"{part}.yaml"),
                skip_await=config.addons.skip_await,
                opts=self.child(depends_on=after),
            )

        crds = manifest("serving-crds", knative.serving_source, [])
        core = manifest("serving-core", knative.serving_source, [crds])
        kourier = manifest("kourier", knative.kourier_source, [core])
        # Inference services live under these CRDs: never deleted with them.
        guard = CrdGuard(
            f"{name}-crds-in-use",
            layer="addons.knative",
            crds=SERVING_CRDS,
            kubeconfig=cluster.kubeconfig,
            opts=self.child(depends_on=[crds, core, kourier]),
        )
        self.ready: list[pulumi.Resource] = [crds, core, kourier, guard]
        for map_name, data in knative_settings(config).items():
            self.ready.append(
                k8s.core.v1.ConfigMapPatch(
                    f"{name}-{map_name}",
                    metadata={"name": map_name, "namespace": NAMESPACE},
                    data=data,
                    opts=self.child(depends_on=[core]),
                )
            )
        if knative.address is not None:
            self.ready.append(
                k8s.core.v1.ServicePatch(
                    f"{name}-kourier-address",
                    metadata={
                        "name": "kourier",
                        "namespace": "kourier-system",
                        "annotations": {LOAD_BALANCER_IPS: str(knative.address)},
                    },
                    opts=self.child(depends_on=[kourier]),
                )
            )
        self.register_outputs({})
