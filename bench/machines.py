"""Benchmark of the machines lab: for a fresh lab of 3 and of 6 machines,
the wall time of the site (mirror, registry, images; builds cached), of
booting the machines, of the first `pulumi up` (preflight, node preparation,
kubeadm init and joins) and of a second `up` with nothing to change, and the
6-to-3 ratio of the first up. Prints figures, asserts nothing.

    python -m bench.machines [--machines 3,6]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tools.lab.machines_lab import MachinesLab, layout, machines_down, up


def measure(count: int, directory: Path) -> tuple[float, float, float, float]:
    lab = MachinesLab(directory)
    started = time.perf_counter()
    lab.prepare()
    site = time.perf_counter() - started
    specs = layout(count)
    started = time.perf_counter()
    lab.ensure_machines(specs)
    boot = time.perf_counter() - started
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        result = up(lab, specs, capture=True)
        if result.returncode != 0:
            raise RuntimeError(f"up of {count} machines failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
        timings.append(time.perf_counter() - started)
    return site, boot, timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--machines", default="3,6")
    args = parser.parse_args()
    print("machines lab: a fresh lab, then `pulumi up` twice (local backend)")
    print(f"{'machines':>9} {'site s':>7} {'boot s':>7} {'first up s':>11} {'no-change up s':>15}")
    firsts = {}
    for count in (int(value) for value in args.machines.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["PULUMI_BACKEND_URL"] = f"file://{scratch}"
            directory = Path(scratch) / "lab"
            try:
                site, boot, first, again = measure(count, directory)
            finally:
                machines_down(directory)
        firsts[count] = first
        print(f"{count:>9} {site:>7.1f} {boot:>7.1f} {first:>11.1f} {again:>15.1f}", flush=True)
    if len(firsts) == 2:
        (small, few), (large, many) = sorted(firsts.items())
        print(f"first up, {large} vs {small} machines: {many / few:.2f}x")


if __name__ == "__main__":
    main()
