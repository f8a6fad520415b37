"""Each rule the stack model and the policy pack share (stacks/rules.py)
says the same words in both: the model warns outside production, the pack
reports it under its policy."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))

from rules import POLICIES

from stacks.model import ConfigWarning, StackConfig
from stacks.rules import SHARED_RULES, Rule, odd_control_planes, supported_versions
from tests.policy.stack_args import program_resources, stack_violations
from tests.support.settings import fixture


def two_control_planes() -> dict[str, Any]:
    settings = fixture("small")
    settings["nodes"][1]["roles"] = ["control-plane"]
    settings["cluster"]["apiEndpoint"] = {"host": "192.0.2.5"}
    return settings


# Each shared rule: a dev stack it finds a problem in, and the policy that judges it.
CASES: dict[Rule, tuple[Callable[[], dict[str, Any]], str]] = {
    odd_control_planes: (two_control_planes, "control-plane-quorum"),
    # dev keeps Kubernetes 1.32 on the default Run:ai (2.24 supports 1.33 to 1.35).
    supported_versions: (lambda: fixture("small"), "supported-versions"),
}


def test_every_shared_rule_is_tested() -> None:
    assert set(CASES) == set(SHARED_RULES)


@pytest.mark.parametrize("rule", SHARED_RULES, ids=lambda rule: rule.__name__)
def test_the_model_and_the_pack_say_the_same(rule: Rule) -> None:
    settings_of, policy_name = CASES[rule]
    settings = settings_of()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        config = StackConfig.model_validate(settings)
    found = rule(config.inventory_summary())
    assert found
    assert set(found) <= {str(w.message) for w in caught if issubclass(w.category, ConfigWarning)}
    [policy] = [policy for policy in POLICIES if policy.name == policy_name]
    reported = stack_violations(policy, program_resources(settings))
    assert {f"cluster 'gpu-dev': {problem}" for problem in found} <= set(reported)
