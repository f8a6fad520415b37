"""Validation args for the policy pack, built directly: from the resources the
program registers under mocks (so the rules judge what the program really
declares) or from hand-made resources."""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    StackValidationArgs,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))

from tests.support.programs import registered


def resource(resource_type: str, name: str, props: dict[str, Any], protect: bool = False) -> PolicyResource:
    opts = PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
    return PolicyResource(
        resource_type, props, f"urn:pulumi:test::p::{resource_type}::{name}", name, opts, None, None, [], {}
    )


def program_resources(settings: dict[str, Any], stack: str = "dev") -> list[PolicyResource]:
    """What the program registers for `settings`: resources with their inputs,
    components with the outputs they publish (as the engine shows them)."""
    recorded = registered(settings, stack=stack)
    # Copies: tests edit what they are given, and the evaluation is shared.
    return [
        resource(r.type, r.name, copy.deepcopy(r.outputs or r.inputs), r.protect) for r in recorded.resources.values()
    ]


def stack_violations(policy: Any, resources: list[PolicyResource], config: dict[str, Any] | None = None) -> list[str]:
    messages: list[str] = []
    policy.validate(StackValidationArgs(resources, config or {}), lambda message, _urn=None: messages.append(message))
    return messages


def resource_violations(policy: Any, item: PolicyResource, config: dict[str, Any] | None = None) -> list[str]:
    messages: list[str] = []
    args = ResourceValidationArgs(item.resource_type, item.props, item.urn, item.name, item.opts, None, config or {})
    policy.validate(args, lambda message, _urn=None: messages.append(message))
    return messages
