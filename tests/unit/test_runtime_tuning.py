"""The SDK replacements that keep a large program's evaluation linear give
the answers of what they replace."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pulumi
import pytest
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components import runtime_tuning
from components.runtime_tuning import PendingOutputs, _add_dep, _reachable


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], None]:
        return {}, None


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


def test_a_dependency_cycle_is_still_refused() -> None:
    pulumi.runtime.set_mocks(_Mocks(), project="p", stack="s")

    def program() -> None:
        runtime_tuning.apply()
        group = pulumi.ComponentResource("test:index:Group", "group")
        # `late` depends on the group, and so on its child `member`, which
        # depends on `late`.
        late = pulumi.CustomResource("test:index:Thing", "late", opts=pulumi.ResourceOptions(depends_on=[group]))
        member = pulumi.ResourceOptions(parent=group, depends_on=[late])
        pulumi.CustomResource("test:index:Thing", "member", opts=member)

    # The registrations the cycle stopped leave futures failed and never
    # awaited: collected here, quietly.
    loop = asyncio.get_event_loop()
    loop.set_exception_handler(lambda *_: None)
    try:
        with pytest.raises(RuntimeError, match="circular dependency"):
            _sync_await(run_pulumi_func(program))
        pulumi.runtime.set_mocks(_Mocks(), project="p", stack="s")
        gc.collect()
    finally:
        loop.set_exception_handler(None)
