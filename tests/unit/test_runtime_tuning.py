"""The SDK replacements that keep a large program's evaluation linear give
the answers of what they replace."""

from __future__ import annotations

import pytest
from pulumi.runtime import resource_cycle_breaker

from components import runtime_tuning
from components.runtime_tuning import PendingOutputs, _add_dep, _reachable


def test_pending_outputs_do_what_the_sdk_asks_of_its_deque() -> None:
    pending = PendingOutputs(["stack"])
    pending.append("a")
    pending.append("b")
    pending.remove("a")
    with pytest.raises(ValueError):
        pending.remove("a")  # already gone: the SDK expects ValueError
    assert len(pending) == 2
    assert {pending.popleft(), pending.popleft()} == {"stack", "b"}
    pending.append("c")
    pending.clear()
    assert len(pending) == 0


class _Node:
    """Stands in for a resource: the checks read only recorded dependencies."""


def test_reachable_follows_recorded_dependencies_only() -> None:
    init, prep, join, upgrade, other = (_Node() for _ in range(5))
    _add_dep(init, prep)
    _add_dep(join, init)
    _add_dep(upgrade, join)
    assert _reachable(upgrade, prep)  # upgrade -> join -> init -> prep
    assert _reachable(join, join)
    assert not _reachable(prep, upgrade)  # the other way round
    assert not _reachable(upgrade, other)
    assert prep in init._direct_computed_dependencies  # the SDK's own record too


def test_the_sdk_still_refuses_a_dependency_that_closes_a_cycle() -> None:
    runtime_tuning.apply()
    late, member = _Node(), _Node()
    # `late` depends on `member`: `member` may not depend on `late`.
    assert resource_cycle_breaker.declare_dependency(late, member)
    assert not resource_cycle_breaker.declare_dependency(member, late)
    assert resource_cycle_breaker.declare_dependency(member, _Node())
