"""The Python packages and the compiled toolchain are the same versions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)", line)
        if match:
            found[match[1].split("[")[0].lower()] = match[2]
    return found


def toolchain() -> dict[str, str]:
    values = {}
    for line in (ROOT / "tools" / "versions.env").read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key] = value
    return values


def test_python_packages_match_the_toolchain() -> None:
    versions = toolchain()
    program = pins(ROOT / "requirements.txt")
    policy = pins(ROOT / "policy" / "requirements.txt")
    assert program["pulumi"] == versions["PULUMI_VERSION"]
    assert policy["pulumi"] == versions["PULUMI_VERSION"]
    assert program["pulumi-kubernetes"] == versions["KUBERNETES_PROVIDER_VERSION"]


def test_module_pseudo_versions_are_well_formed() -> None:
    versions = toolchain()
    for key in ("PULUMI_LANGUAGE_PYTHON_MODULE_VERSION", "KUBERNETES_PROVIDER_MODULE_VERSION"):
        assert re.fullmatch(r"v\d+\.0\.0-\d{14}-[0-9a-f]{12}", versions[key]), key
