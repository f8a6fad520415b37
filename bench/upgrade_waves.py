"""Benchmark of a rolling patch upgrade on the machines lab: two CPU workers
in one node pool upgraded from the lab's Kubernetes release to the next
patch at `maxUnavailable: 1` (one wave per worker) and at `2` (one wave),
each on a fresh lab of four machines (a control plane, the GPU worker in
a pool of its own, the two CPU workers). Prints the wall time of each
upgrade `up`; asserts nothing.

    python -m bench.upgrade_waves [--to 1.32.9]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tools.lab.machines_lab import KUBERNETES_VERSION, MachinesLab, layout, machines_down, up
from tools.stackrun import failure_text

# The pool of the lab's CPU workers (they name none).
POOL = "default"


def upgrade_seconds(directory: Path, target: str, max_unavailable: int) -> float:
    lab = MachinesLab(directory)
    lab.prepare((KUBERNETES_VERSION, target))
    lab.cluster_settings["upgrade"] = {"pools": {POOL: {"maxUnavailable": max_unavailable}}}
    specs = layout(4)
    result = up(lab, specs, capture=True)
    if result.returncode != 0:
        raise RuntimeError(f"first up failed:\n{failure_text(result)}")
    lab.kubernetes_version = target
    started = time.perf_counter()
    result = up(lab, specs, capture=True)
    if result.returncode != 0:
        raise RuntimeError(f"upgrade failed:\n{failure_text(result)}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--to", default="1.32.9", help="the patch release to upgrade to (the lab builds it)")
    args = parser.parse_args()
    print(f"machines lab: patch upgrade {KUBERNETES_VERSION} -> {args.to} of two workers in one pool")
    print(f"{'maxUnavailable':>15} {'upgrade up s':>13}")
    for max_unavailable in (1, 2):
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["PULUMI_BACKEND_URL"] = f"file://{scratch}"
            directory = Path(scratch) / "lab"
            try:
                seconds = upgrade_seconds(directory, args.to, max_unavailable)
            finally:
                machines_down(directory)
        print(f"{max_unavailable:>15} {seconds:>13.1f}", flush=True)


if __name__ == "__main__":
    main()
