"""The version compatibility table (stacks/compatibility.json) and the check
of a stack's versions against it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("compatibility.json")


@cache
def table() -> dict[str, dict[str, Any]]:
    return json.loads(TABLE.read_text())["runai"]


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def within(version: str, low: str, high: str) -> bool:
    """`version` between two bounds; a bound with fewer parts covers every
    patch below it (1.32 admits 1.32.8)."""
    parts = _parts(version)
    return _parts(low) <= parts[: len(_parts(low))] and parts[: len(_parts(high))] <= _parts(high)


def unsupported(runai: str, versions: dict[str, str]) -> list[str]:
    """One message per component whose version is outside what Run:ai `runai`
    supports; components the table has no range for are not judged."""
    ranges = table().get(runai)
    if ranges is None:
        return [f"Run:ai {runai} is not in stacks/compatibility.json (known: {', '.join(table())}): add its ranges"]
    problems = []
    for component, version in versions.items():
        bounds = ranges.get(component)
        if bounds and not within(version, *bounds):
            problems.append(
                f"{component} {version} is outside {bounds[0]} to {bounds[1]}, which Run:ai {runai} supports"
            )
    return problems
