"""Where builds from Go modules and other lab downloads are cached: outside
the repository, keyed by version (the same place tools/go_build.sh uses)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    explicit = os.environ.get("TOOLCHAIN_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "runai-cluster-toolchain"
