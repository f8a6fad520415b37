"""The policy reference, read from the pack's list of rules and each
stack's policy config."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
POLICY_DIR = ROOT / "policy"


def _pack() -> list[Any]:
    # The pack's modules import each other by bare name, as the engine runs them.
    if str(POLICY_DIR) not in sys.path:
        sys.path.insert(0, str(POLICY_DIR))
    from rules import POLICIES

    return POLICIES


def _stack_configs() -> dict[str, dict[str, Any]]:
    return {path.stem: json.loads(path.read_text()) for path in sorted((POLICY_DIR / "config").glob("*.json"))}


def _level(policy: Any, config: dict[str, Any]) -> str:
    own = config.get(policy.name)
    if isinstance(own, str):
        return own
    if isinstance(own, dict) and "enforcementLevel" in own:
        return str(own["enforcementLevel"])
    return str(config.get("all", policy.enforcement_level.value))


def _settings(policy: Any, configs: dict[str, dict[str, Any]]) -> str:
    """Each setting of the rule: what it means, its default and each stack's value."""
    schema = policy.config_schema
    if schema is None:
        return ""
    parts = []
    for key, spec in schema.properties.items():
        values = ", ".join(
            f"{stack} {json.dumps(config[policy.name][key])}"
            for stack, config in configs.items()
            if isinstance(config.get(policy.name), dict) and key in config[policy.name]
        )
        parts.append(
            f"`{key}`: {spec.get('description', '')} Default {json.dumps(spec.get('default'))}"
            + (f"; {values}." if values else ".")
        )
    return " ".join(parts)


def render() -> str:
    configs = _stack_configs()
    stacks = list(configs)
    lines = [
        "| rule | kind | " + " | ".join(stacks) + " | what it checks | settings |",
        "|---|---|" + "---|" * len(stacks) + "---|---|",
    ]
    for policy in _pack():
        kind = "stack" if type(policy).__name__.startswith("Stack") else "resource"
        levels = " | ".join(_level(policy, configs[stack]) for stack in stacks)
        description = " ".join(policy.description.split())
        lines.append(f"| `{policy.name}` | {kind} | {levels} | {description} | {_settings(policy, configs)} |")
    return "\n".join(lines) + "\n"
