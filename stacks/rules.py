"""The rules both the stack model and the policy pack judge, one named
function each, over the inventory summary (what the root component
publishes and the pack reads). Each returns its problems in words, naming
the setting and the fix; the model refuses them in production and warns
elsewhere, the pack reports them under its policies. Standard library only:
the policy pack imports it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stacks.compat import unsupported

Rule = Callable[[Mapping[str, Any]], list[str]]


def odd_control_planes(inventory: Mapping[str, Any]) -> list[str]:
    """etcd keeps quorum only with an odd number of members."""
    if inventory.get("bootstrap") == "existing":
        return []  # an existing cluster's machines are not ours to judge
    planes = list(inventory.get("controlPlanes") or [])
    if not planes or len(planes) % 2:
        return []
    return [
        f"nodes: {len(planes)} control planes ({', '.join(planes)}); etcd needs an odd number (1, 3, 5) to keep "
        "quorum: add or remove one control-plane role in `nodes`"
    ]


def supported_versions(inventory: Mapping[str, Any]) -> list[str]:
    """Every installed component within what the Run:ai version supports
    (stacks/compatibility.json); the KAI path has no Run:ai to support it."""
    if inventory.get("scheduler") != "runai":
        return []
    versions = dict(inventory.get("componentVersions") or {"kubernetes": str(inventory.get("kubernetesVersion"))})
    return [
        f"runai.version: {problem}: change the version in the stack or runai.version"
        for problem in unsupported(str(inventory.get("runaiVersion")), versions)
    ]


# Every rule the model and the pack share: the model runs them all, each
# policy that judges the same thing calls its rule by name.
SHARED_RULES: tuple[Rule, ...] = (odd_control_planes, supported_versions)
