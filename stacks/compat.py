"""The version compatibility table (stacks/compatibility.json), the check of
a stack's versions against it, and the Run:ai upgrade path. Standard library
only: the policy pack imports it too."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

TABLE = Path(__file__).with_name("compatibility.json")
# Run:ai upgrades move at most this many minors at a time.
MAX_MINORS_PER_UPGRADE = 4


@cache
def _read() -> dict[str, Any]:
    content: dict[str, Any] = json.loads(TABLE.read_text())
    return content


def table() -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = _read()["runai"]
    return rows


def components() -> dict[str, str]:
    """What the table ranges (key: the name people know it by), in the order
    docs/runai.md's matrix shows them."""
    names: dict[str, str] = _read()["components"]
    return names


def accepted() -> list[str]:
    """The Run:ai minors the table has a support matrix for, oldest first."""
    return sorted(table(), key=_parts)


def _parts(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def within(version: str, low: str, high: str | None) -> bool:
    """`version` between two bounds; a bound with fewer parts covers every
    patch below it (1.32 admits 1.32.8); no upper bound means 'or later'."""
    parts = _parts(version)
    if _parts(low) > parts[: len(_parts(low))]:
        return False
    return high is None or parts[: len(_parts(high))] <= _parts(high)


def shown(bounds: list[str | None]) -> str:
    low, high = bounds
    if high is None:
        return f"{low} or later"
    return str(low) if low == high else f"{low} to {high}"


def matrix_markdown() -> str:
    """The table as docs/runai.md shows it (a test keeps the two equal)."""
    header = ["Run:ai", *components().values()]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for minor in accepted():
        row = table()[minor]
        cells = [shown(row[key]) if key in row else "not published" for key in components()]
        lines.append("| " + " | ".join([minor, *cells]) + " |")
    lines.append("")
    lines += [f"- {minor}: {'; '.join(table()[minor]['sources'])}" for minor in accepted()]
    return "\n".join(lines) + "\n"


def unsupported(runai: str, versions: dict[str, str]) -> list[str]:
    """One message per component whose version is outside what Run:ai `runai`
    supports; components the table has no range for are not judged."""
    ranges = table().get(runai)
    if ranges is None:
        return [f"Run:ai {runai} has no support matrix in stacks/compatibility.json (known: {', '.join(accepted())})"]
    problems = []
    for component, version in versions.items():
        bounds = ranges.get(component)
        if bounds and not within(version, *bounds):
            problems.append(f"{component} {version} is outside {shown(bounds)}, which Run:ai {runai} supports")
    return problems


def upgrade_path_error(current: str, wanted: str) -> str | None:
    """Why Run:ai cannot go from `current` to `wanted` in one upgrade (back,
    or more than MAX_MINORS_PER_UPGRADE minors forward), naming the path of
    accepted minors to take instead; None when it can."""
    now, then = _parts(current), _parts(wanted)
    if then < now:
        return f"{current} to {wanted} is a downgrade, which Run:ai does not do: keep {current} or go forward"
    if then[0] != now[0] or then[1] - now[1] <= MAX_MINORS_PER_UPGRADE:
        return None
    path = [current]
    while _parts(path[-1])[1] + MAX_MINORS_PER_UPGRADE < then[1]:
        reach = _parts(path[-1])[1] + MAX_MINORS_PER_UPGRADE
        stops = [v for v in accepted() if _parts(path[-1])[1] < _parts(v)[1] <= reach and _parts(v)[0] == now[0]]
        path.append(stops[-1] if stops else f"{now[0]}.{reach}")
    path.append(wanted)
    return (
        f"{current} to {wanted} moves {then[1] - now[1]} minors; Run:ai upgrades move at most "
        f"{MAX_MINORS_PER_UPGRADE} at a time: go {' -> '.join(path)}, running `pulumi up` at each"
    )


if __name__ == "__main__":
    print(matrix_markdown(), end="")
