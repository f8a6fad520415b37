"""`cluster.upgrade`: how a new Kubernetes version or host GPU driver rolls
out on a running cluster. Control planes go one at a time; the workers of
each node pool in waves of at most `maxUnavailable` nodes, the pools in
parallel (they are independent capacity), as k0sctl (10%) and Kubespray
(20%) size theirs."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, model_validator

from stacks.base import Section

# Workers without a nodePool: Run:ai's pool for unlabelled nodes.
DEFAULT_POOL = "default"
_PERCENT = re.compile(r"^(\d{1,3})%$")


def _check_max_unavailable(value: Any) -> int | str:
    """A count of nodes (1 or more) or a percentage of the pool ('10%')."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match and 1 <= int(match[1]) <= 100:
            return value
    raise ValueError(f"{value!r} is neither a count of nodes (1 or more) nor a percentage from '1%' to '100%'")


MaxUnavailable = Annotated[int | str, BeforeValidator(_check_max_unavailable)]


def wave_size(max_unavailable: int | str, nodes: int) -> int:
    """Nodes upgraded at once in a pool of `nodes`: a percentage rounds down,
    as Kubernetes' own maxUnavailable does, but never below one node."""
    if isinstance(max_unavailable, int):
        return max(1, min(max_unavailable, nodes))
    return max(1, nodes * int(max_unavailable.removesuffix("%")) // 100)


class PoolUpgrade(Section):
    max_unavailable: MaxUnavailable
    """this pool's workers upgraded at once: a count, or a percentage of the pool"""


class UpgradeSettings(Section):
    max_unavailable: MaxUnavailable = "10%"
    """workers of a node pool upgraded at once (Kubernetes and the host driver): a count, or a percentage
    of the pool rounded down; at least one node; workers in maintenance count against it"""
    pools: dict[str, PoolUpgrade] = Field(default_factory=dict)
    """Per node pool (its name, or 'default' for workers without one)."""
    drain_timeout: int = Field(600, ge=30)
    """seconds `kubectl drain` may take per node"""
    ready_timeout: int = Field(600, ge=30)
    """seconds an upgraded node may take to be Ready at the new version"""

    @model_validator(mode="before")
    @classmethod
    def _batch_size_replaced(cls, data: Any) -> Any:
        if isinstance(data, dict) and "batchSize" in data:
            raise ValueError(
                f"batchSize is replaced by maxUnavailable: write maxUnavailable: {data['batchSize']} "
                "(a count of nodes per pool) or a percentage such as '10%'"
            )
        return data

    def pool_max_unavailable(self, pool: str) -> int | str:
        override = self.pools.get(pool)
        return override.max_unavailable if override else self.max_unavailable
