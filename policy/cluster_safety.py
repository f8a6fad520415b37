"""Cluster-safety rules over the root component's inventory summary.

The root component (`runai-cluster:cluster:Cluster`) publishes a summary of
the inventory as its `inventory` property; these rules read it, so they judge
exactly what the program is about to build."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from resources import inventories, stack_rule

from stacks.rules import odd_control_planes


def _rule(
    check: Callable[[str, Mapping[str, Any]], list[str]],
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def problems(args: StackValidationArgs) -> list[str]:
        return [
            message
            for name, inventory in inventories(args)
            # An existing cluster's machines are not ours to judge.
            if inventory.get("bootstrap") != "existing"
            for message in check(name, inventory)
        ]

    return stack_rule(problems)


def control_plane_quorum(name: str, inventory: Mapping[str, Any]) -> list[str]:
    planes = inventory["controlPlanes"]
    problems = [f"cluster '{name}': {problem}" for problem in odd_control_planes(inventory)]
    if inventory["environment"] == "prod" and len(planes) < 3:
        problems.append(
            f"cluster '{name}': production needs at least 3 control planes, has {len(planes)}: "
            "give two more nodes the control-plane role"
        )
    return problems


def production_system_nodes(name: str, inventory: Mapping[str, Any]) -> list[str]:
    systems = inventory["systemNodes"]
    if inventory["environment"] == "prod" and len(systems) < 2:
        return [
            f"cluster '{name}': production needs at least 2 Run:ai system nodes, has {len(systems)} "
            f"({', '.join(systems) or 'none'}): add the `system` role to another node"
        ]
    return []


def production_host_keys(name: str, inventory: Mapping[str, Any]) -> list[str]:
    unpinned = inventory["unpinnedHostKeys"]
    if inventory["environment"] == "prod" and unpinned:
        return [
            f"cluster '{name}': SSH host keys are not pinned for {', '.join(unpinned)}: set `hostKey` "
            "on each (the machine's /etc/ssh/ssh_host_ed25519_key.pub) and `ssh.requireHostKeys: true`"
        ]
    return []


def production_backups(name: str, inventory: Mapping[str, Any]) -> list[str]:
    if inventory["environment"] == "prod" and not inventory.get("etcdBackups"):
        return [
            f"cluster '{name}': etcd backups are off in production: set `backup.enabled: true` with an s3 or "
            "nfs target (see `backup` in docs/settings.md)"
        ]
    return []


POLICIES = [
    StackValidationPolicy(
        name="control-plane-quorum",
        description="An odd number of control planes; at least three in production.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_rule(control_plane_quorum),
    ),
    StackValidationPolicy(
        name="production-system-nodes",
        description="At least two Run:ai system nodes in production.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_rule(production_system_nodes),
    ),
    StackValidationPolicy(
        name="production-host-keys",
        description="SSH host keys pinned for every node in production.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_rule(production_host_keys),
    ),
    StackValidationPolicy(
        name="production-backups",
        description="etcd backups enabled in production.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_rule(production_backups),
    ),
]
