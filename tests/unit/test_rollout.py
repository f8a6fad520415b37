"""The rollout plan: waves per node pool sized by `cluster.upgrade`
`maxUnavailable`, control planes one at a time, maintenance left alone."""

from __future__ import annotations

from typing import Any

import pytest

from components.kubeadm.rollout import plan, upgrade_stages
from stacks.load import StackConfigError, parse_stack
from stacks.model import StackConfig
from tests.support.settings import fixture


def stack(
    pools: dict[str, int], upgrade: dict[str, Any] | None = None, maintenance: tuple[str, ...] = ()
) -> StackConfig:
    """One control plane and `pools` GPU workers (pool name -> count)."""
    settings = fixture("small")
    nodes: list[dict[str, Any]] = [{"name": "cp", "address": "10.1.0.1", "roles": ["control-plane"]}]
    for pool, count in pools.items():
        for index in range(count):
            name = f"{pool}-{index}"
            node: dict[str, Any] = {
                "name": name,
                "address": f"10.2.{len(nodes) // 250}.{len(nodes) % 250 + 1}",
                "roles": ["gpu-worker"],
                "gpu": {"model": "H100", "count": 8},
                "nodePool": pool,
                "maintenance": name in maintenance,
            }
            nodes.append(node)
    settings["nodes"] = nodes
    settings.pop("org", None)  # its quotas name the example's pools
    if upgrade is not None:
        settings["cluster"]["upgrade"] = upgrade
    return parse_stack(settings)


def sizes(config: StackConfig, pool: str = "a") -> list[int]:
    return [len(wave) for wave in plan(config).pools[pool].waves]


@pytest.mark.parametrize(
    ("workers", "upgrade", "expected"),
    [
        # 10% rounds down, never below one node.
        (3, None, [1, 1, 1]),
        (10, None, [1] * 10),
        (100, None, [10] * 10),
        (3, {"maxUnavailable": 2}, [2, 1]),
        (10, {"maxUnavailable": 2}, [2] * 5),
        (100, {"maxUnavailable": 2}, [2] * 50),
        (10, {"maxUnavailable": "25%"}, [2] * 5),
        (3, {"maxUnavailable": 5}, [3]),
        (100, {"maxUnavailable": "100%"}, [100]),
    ],
)
def test_waves_per_pool(workers: int, upgrade: dict[str, Any] | None, expected: list[int]) -> None:
    config = stack({"a": workers}, upgrade)
    assert sizes(config) == expected
    rolled = [node.name for wave in plan(config).pools["a"].waves for node in wave]
    assert rolled == [f"a-{index}" for index in range(workers)]  # each worker once, in inventory order


def test_a_pool_of_one_node_is_one_wave() -> None:
    assert sizes(stack({"a": 1})) == [1]
    assert sizes(stack({"a": 1}, {"maxUnavailable": 3})) == [1]


def test_pools_are_sized_on_their_own_and_overridden_by_name() -> None:
    config = stack({"a": 100, "b": 20}, {"maxUnavailable": "10%", "pools": {"b": {"maxUnavailable": 5}}})
    assert sizes(config, "a") == [10] * 10
    assert sizes(config, "b") == [5] * 4
    stages = upgrade_stages(config)
    assert stages["controlPlanes"] == ["cp"]
    assert stages["pools"]["b"] == {
        "maxUnavailable": 5,
        "waves": [[f"b-{index}" for index in range(start, start + 5)] for start in range(0, 20, 5)],
    }
    assert stages["pools"]["a"]["maxUnavailable"] == "10%"


def test_maintenance_nodes_are_left_alone_and_count_against_the_budget() -> None:
    config = stack({"a": 10}, {"maxUnavailable": 3}, maintenance=("a-0", "a-5"))
    rollout = plan(config)
    rolled = [node.name for wave in rollout.pools["a"].waves for node in wave]
    assert "a-0" not in rolled and "a-5" not in rolled and len(rolled) == 8
    assert sizes(config) == [1] * 8  # 3 out of service at most: 2 in maintenance, 1 upgrading
    assert upgrade_stages(config)["inMaintenance"] == ["a-0", "a-5"]


def test_a_pool_wholly_in_maintenance_has_no_waves() -> None:
    config = stack({"a": 2, "b": 1}, maintenance=("b-0",))
    assert set(plan(config).pools) == {"a"}
    assert [node.name for node in plan(config).maintenance] == ["b-0"]


def test_workers_without_a_pool_roll_as_the_default_pool() -> None:
    config = parse_stack(fixture("small"))
    stages = upgrade_stages(config)
    assert stages["pools"]["default"]["waves"] == [["dev-sys-1"]]
    assert stages["pools"]["dev"]["waves"] == [["dev-gpu-1"], ["dev-gpu-2"]]


def refused(upgrade: dict[str, Any]) -> str:
    with pytest.raises(StackConfigError) as caught:
        stack({"a": 3}, upgrade)
    return str(caught.value)


@pytest.mark.parametrize(
    ("upgrade", "message"),
    [
        ({"maxUnavailable": 0}, "cluster.upgrade.maxUnavailable: 0 is neither a count of nodes (1 or more)"),
        ({"maxUnavailable": "0%"}, "cluster.upgrade.maxUnavailable: '0%' is neither a count of nodes"),
        ({"maxUnavailable": "150%"}, "nor a percentage from '1%' to '100%'"),
        ({"maxUnavailable": "ten"}, "cluster.upgrade.maxUnavailable: 'ten' is neither"),
        ({"maxUnavailable": True}, "cluster.upgrade.maxUnavailable: True is neither"),
        ({"pools": {"a": {"maxUnavailable": -1}}}, "cluster.upgrade.pools.a.maxUnavailable: -1 is neither"),
        ({"pools": {"a": {}}}, "cluster.upgrade.pools.a.maxUnavailable: required setting is missing"),
        (
            {"pools": {"zz": {"maxUnavailable": 1}}},
            "cluster.upgrade.pools.zz: no worker is in node pool 'zz'; name one of a (workers without nodePool",
        ),
        ({"batchSize": 4}, "cluster.upgrade: batchSize is replaced by maxUnavailable: write maxUnavailable: 4"),
    ],
)
def test_bad_rollout_settings_are_named(upgrade: dict[str, Any], message: str) -> None:
    assert message in refused(upgrade)
