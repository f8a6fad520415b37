"""The pod network: flannel or Calico, on cluster.podCidr."""

from __future__ import annotations

import pulumi

from components.charts import release
from components.managed import Component
from stacks.addons import CniKind
from stacks.model import StackConfig


def cni_values(config: StackConfig) -> dict[str, object]:
    cidr = str(config.cluster.pod_cidr)
    if config.addons.cni.kind is CniKind.FLANNEL:
        return {"podCidr": cidr, "flannel": {"backend": "vxlan"}}
    return {
        "installation": {
            "calicoNetwork": {
                "ipPools": [
                    {"cidr": cidr, "encapsulation": "VXLANCrossSubnet", "natOutgoing": "Enabled"},
                ]
            }
        }
    }


class PodNetwork(Component):
    """Nodes stay NotReady until a CNI runs: first layer after the joins."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:networking:PodNetwork", name, opts)
        cni = config.addons.cni
        flannel = cni.kind is CniKind.FLANNEL
        self.release = release(
            f"{name}-{cni.kind.value}",
            cni.flannel if flannel else cni.calico,
            # Flannel's own namespace, not kube-system. Its chart makes none
            # and labels none: the Helm-created one runs its privileged
            # DaemonSet under the cluster's default Pod Security level
            # (privileged unless the API server's admission config says otherwise).
            "kube-flannel" if flannel else "tigera-operator",
            cni_values(config),
            self.child(),
            cni.values,
            skip_await=config.addons.skip_await,
        )
        self.register_outputs({})
