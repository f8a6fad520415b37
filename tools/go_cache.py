"""Where builds from Go modules and other lab downloads are cached: outside
the repository, keyed by version (the same place tools/go_build.sh uses)."""

from __future__ import annotations

import fcntl
import os
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parent


def cache_root() -> Path:
    explicit = os.environ.get("TOOLCHAIN_CACHE")
    if explicit:
        return Path(explicit)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "runai-cluster-toolchain"


def built(script: str, *args: str) -> Path:
    """Run one of tools/'s build scripts (cached, keyed by version); the
    directory it prints last, holding what it built. One build of a script
    and its arguments at a time (a test session builds ahead in the
    background): a second caller waits, then finds it cached."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f".{'-'.join([script, *args])}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = subprocess.run([str(TOOLS / script), *args], stdout=subprocess.PIPE, text=True, check=True)
    return Path(result.stdout.strip().splitlines()[-1])
