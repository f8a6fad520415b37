"""Versions in the range the configured Run:ai version supports (Run:ai path).

The matrix holds what Run:ai's self-hosted system requirements state; a
version missing here is reported rather than assumed fine. Knative, GPU
Operator, Training and MPI operator ranges join as those layers land."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from resources import inventories, stack_rule

# Run:ai minor -> lowest and highest supported Kubernetes minor.
KUBERNETES = {"2.19": ("1.28", "1.31"), "2.20": ("1.29", "1.32")}


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def version_problems(name: str, inventory: Mapping[str, Any]) -> list[str]:
    if inventory.get("scheduler") != "runai":
        return []
    runai, kubernetes = str(inventory.get("runaiVersion")), str(inventory.get("kubernetesVersion"))
    supported = KUBERNETES.get(runai)
    if supported is None:
        return [
            f"cluster '{name}': this policy pack does not know which Kubernetes versions Run:ai {runai} supports "
            f"(known: {', '.join(KUBERNETES)}): check Run:ai's system requirements and add them to policy/versions.py"
        ]
    low, high = supported
    if not _minor(low) <= _minor(kubernetes) <= _minor(high):
        return [
            f"cluster '{name}': Kubernetes {kubernetes} is outside {low} to {high}, which Run:ai {runai} supports: "
            "change cluster.kubernetesVersion or runai.version"
        ]
    return []


def stack_versions(args: StackValidationArgs) -> list[str]:
    return [message for name, inventory in inventories(args) for message in version_problems(name, inventory)]


POLICIES = [
    StackValidationPolicy(
        name="supported-versions",
        description="Kubernetes within the range the configured Run:ai version supports.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=stack_rule(stack_versions),
    )
]
