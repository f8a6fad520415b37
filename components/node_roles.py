"""Node roles, pools, labels and taints as Run:ai expects them on Node objects."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.managed import Component
from stacks.addons import GPU_OPERANDS_LABEL
from stacks.inventory import Node, Role
from stacks.model import Labels, StackConfig


def node_labels(node: Node, labels: Labels) -> dict[str, str]:
    """Run:ai only places its services and workloads on nodes marked with a role."""
    result = dict(node.labels)
    role_keys = {
        Role.SYSTEM: labels.system_role,
        Role.GPU_WORKER: labels.gpu_worker_role,
        Role.CPU_WORKER: labels.cpu_worker_role,
    }
    for role in node.roles:
        if role in role_keys:
            result[role_keys[role]] = "true"
    if node.node_pool:
        result[labels.node_pool] = node.node_pool
    return result


def node_taints(node: Node, labels: Labels) -> list[dict[str, str]]:
    taints = [taint.model_dump(mode="json") for taint in node.taints]
    if node.maintenance:
        taints.append({"key": labels.drain_taint_key, "value": labels.drain_taint_value, "effect": "NoExecute"})
    return taints


GENERATION_ANNOTATION = "runai-cluster.io/generation"


class NodeRoles(Component):
    """One server-side-apply patch per Node: labels and taints from the inventory."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        joined: dict[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:nodes:NodeRoles", name, opts)
        self.patches: dict[str, k8s.core.v1.NodePatch] = {}
        for node in config.nodes:
            spec: dict[str, Any] = {"taints": node_taints(node, config.labels)}
            labels = node_labels(node, config.labels)
            if node.name in config.addons.gpu_operator.exclude_nodes:
                labels[GPU_OPERANDS_LABEL] = "false"  # the GPU Operator leaves this node alone
            self.patches[node.name] = k8s.core.v1.NodePatch(
                f"{name}-{node.name}",
                metadata={
                    "name": node.name,
                    "labels": labels,
                    # A reinstalled machine registers a new Node object: the
                    # generation in the patch applies the labels to it again.
                    "annotations": {GENERATION_ANNOTATION: str(node.generation)},
                },
                spec=spec,
                opts=self.child(depends_on=[joined[node.name]] if node.name in joined else []),
            )
        self.register_outputs({})
