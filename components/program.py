"""The program: validate the stack config, build the graph, export outputs."""

from __future__ import annotations

import pulumi

from components.cluster import Cluster
from components.layers import dns_records
from stacks.load import StackConfigError, load_stack


def build() -> Cluster:
    try:
        stack = load_stack()
    except StackConfigError as error:
        raise pulumi.RunError(f"invalid stack config for '{pulumi.get_stack()}':\n{error}") from None
    cluster = Cluster(stack.config.cluster.name, stack)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("nodes", {node.name: node.address for node in stack.config.nodes})
    # The A records the site's DNS must hold (ingress and Kourier addresses).
    pulumi.export("dnsRecords", dns_records(stack.config))
    pulumi.export("preflight", {name: check.report for name, check in cluster.preflight.items()})
    oidc = stack.config.scheduler.oidc
    if oidc:
        # kubeadm clusters get them; an existing cluster's admin sets them.
        pulumi.export("apiServerOidcFlags", oidc.api_server_flags())
    return cluster
