"""Versions in the range the configured Run:ai version supports (Run:ai path):
every component the stack installs that the compatibility table ranges,
judged against the one table the stack model also uses
(stacks/compatibility.json, with its sources). A Run:ai version missing
from the table is reported rather than assumed fine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from resources import inventories, stack_rule

from stacks.compat import components
from stacks.rules import supported_versions


def version_problems(name: str, inventory: Mapping[str, Any]) -> list[str]:
    return [f"cluster '{name}': {problem}" for problem in supported_versions(inventory)]


def stack_versions(args: StackValidationArgs) -> list[str]:
    return [message for name, inventory in inventories(args) for message in version_problems(name, inventory)]


POLICIES = [
    StackValidationPolicy(
        name="supported-versions",
        description=(
            f"Every installed component ({', '.join(components().values())}) within what the Run:ai version supports."
        ),
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=stack_rule(stack_versions),
    )
]
