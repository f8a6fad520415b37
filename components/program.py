"""The program: validate the stack config, build the graph, export outputs."""

from __future__ import annotations

import pulumi

from components.cluster import Cluster
from stacks.load import StackConfigError, load_stack


def build() -> Cluster:
    try:
        stack = load_stack()
    except StackConfigError as error:
        raise pulumi.RunError(f"invalid stack config for '{pulumi.get_stack()}':\n{error}") from None
    cluster = Cluster(stack.config.cluster.name, stack)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("nodes", {node.name: node.address for node in stack.config.nodes})
    pulumi.export("preflight", {name: check.report for name, check in cluster.preflight.items()})
    return cluster
