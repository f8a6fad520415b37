"""Generated inventories of any size, for graph tests and benchmarks."""

from __future__ import annotations

from typing import Any

from tests.support.settings import fixture


def generated(count: int, control_planes: int = 3) -> dict[str, Any]:
    """A stack of `count` nodes: control planes, two system nodes, GPU workers."""
    settings = fixture("production")
    nodes = []
    for index in range(count):
        if index < control_planes:
            roles, extra = ["control-plane"], {}
        elif index < min(control_planes + 2, count - 1):
            roles, extra = ["system"], {}
        else:
            roles, extra = ["gpu-worker"], {"gpu": {"model": "H100", "count": 8}, "nodePool": "prod"}
        nodes.append(
            {
                "name": f"n{index}",
                "address": f"10.{index // 250}.{index % 250 + 1}.1",
                "roles": roles,
                "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGeneratedPlaceholderKey000000000000",
                **extra,
            }
        )
    settings["nodes"] = nodes
    # Scaling is about machines: the organisation (whose quotas name both
    # fixture pools) stays out.
    settings.pop("org", None)
    settings["cluster"]["environment"] = "prod" if control_planes > 1 else "dev"
    settings["cluster"]["podCidr"] = "172.16.0.0/16"
    settings["cluster"]["serviceCidr"] = "172.20.0.0/16"
    return settings
