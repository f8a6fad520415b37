"""Versions in the range the configured Run:ai version supports (Run:ai path):
every component the stack installs (Kubernetes, the GPU and Network
Operators, kube-prometheus-stack, and Knative, the Training and MPI
operators for the workload types it enables), judged against the one
compatibility table the stack model also uses (stacks/compatibility.json,
with its sources). A Run:ai version missing from the table is reported
rather than assumed fine."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from resources import inventories, stack_rule

# The table and its comparison live with the stack model (standard library only).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from stacks.compat import unsupported


def version_problems(name: str, inventory: Mapping[str, Any]) -> list[str]:
    if inventory.get("scheduler") != "runai":
        return []
    runai = str(inventory.get("runaiVersion"))
    versions = dict(inventory.get("componentVersions") or {"kubernetes": str(inventory.get("kubernetesVersion"))})
    return [
        f"cluster '{name}': {problem}: change the version in the stack or runai.version"
        for problem in unsupported(runai, versions)
    ]


def stack_versions(args: StackValidationArgs) -> list[str]:
    return [message for name, inventory in inventories(args) for message in version_problems(name, inventory)]


POLICIES = [
    StackValidationPolicy(
        name="supported-versions",
        description=(
            "Every installed component (Kubernetes, GPU and Network Operators, kube-prometheus-stack, Knative, "
            "Training and MPI operators) within what the Run:ai version supports."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=stack_rule(stack_versions),
    )
]
