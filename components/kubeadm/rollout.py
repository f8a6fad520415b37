"""The rollout plan of an upgrade: which node goes in which wave.

Control planes one at a time; then each node pool's workers in waves of
`cluster.upgrade` `maxUnavailable` nodes, the pools side by side. A worker in
maintenance is left out: it is already out of service and may be under
repair, so its upgrade waits until it leaves maintenance."""

from __future__ import annotations

from dataclasses import dataclass

from stacks.inventory import Node, Role
from stacks.model import StackConfig
from stacks.upgrade import wave_size


@dataclass(frozen=True)
class PoolRollout:
    max_unavailable: int | str
    waves: list[list[Node]]


@dataclass(frozen=True)
class Rollout:
    control_planes: list[Node]
    pools: dict[str, PoolRollout]
    maintenance: list[Node]
    host_driver: bool  # GPU workers' host driver rolls out in the same waves


def waves(nodes: list[Node], size: int) -> list[list[Node]]:
    return [nodes[start : start + size] for start in range(0, len(nodes), size)]


def plan(config: StackConfig) -> Rollout:
    settings = config.cluster.upgrade
    pools = {}
    for pool, members in config.worker_pools.items():
        serving = [node for node in members if not node.maintenance]
        if serving:
            limit = settings.pool_max_unavailable(pool)
            # Nodes in maintenance are out of service already and count
            # against the pool's budget, as in Kubernetes' own maxUnavailable.
            size = max(1, wave_size(limit, len(members)) - (len(members) - len(serving)))
            pools[pool] = PoolRollout(limit, waves(serving, size))
    nvidia = config.packages.nvidia
    return Rollout(
        control_planes=config.control_planes,
        pools=pools,
        maintenance=[node for node in config.nodes if node.maintenance and not node.is_control_plane],
        host_driver=bool(nvidia.install_on_host and nvidia.driver_package and nvidia.driver_version),
    )


def rolls_driver(rollout: Rollout, node: Node) -> bool:
    return rollout.host_driver and Role.GPU_WORKER in node.roles


def upgrade_stages(config: StackConfig) -> dict[str, object]:
    """The `upgradeStages` output: the order a new Kubernetes version (and
    host driver) rolls out in."""
    return stages(plan(config))


def stages(rollout: Rollout) -> dict[str, object]:
    return {
        "controlPlanes": [node.name for node in rollout.control_planes],
        "pools": {
            pool: {
                "maxUnavailable": planned.max_unavailable,
                "waves": [[node.name for node in wave] for wave in planned.waves],
            }
            for pool, planned in rollout.pools.items()
        },
        "inMaintenance": [node.name for node in rollout.maintenance],
        "hostDriver": rollout.host_driver,
    }
