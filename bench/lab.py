"""Benchmark of the lab: wall time of `pulumi up` of the lab stack onto a
fresh lab (the lab's own start-up timed apart), and of a second `up` with
nothing to change, for 4 and 16 hosts. Prints figures, asserts nothing.

    python -m bench.lab [--hosts 4,16]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tools.lab.__main__ import apply, down, ensure_running
from tools.lab.sshd import free_port


def measure(hosts: int, directory: Path) -> tuple[float, float, float]:
    started = time.perf_counter()
    state = ensure_running(directory, hosts, free_port(), free_port(), free_port())
    lab_seconds = time.perf_counter() - started
    timings = []
    for _ in range(2):
        started = time.perf_counter()
        result = apply(directory, state, capture=True)
        if result.returncode != 0:
            raise RuntimeError(f"lab up with {hosts} hosts failed:\n{result.stdout}{result.stderr}")
        timings.append(time.perf_counter() - started)
    return lab_seconds, timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="4,16")
    args = parser.parse_args()
    print("lab: `pulumi up` onto real SSH hosts and a real API server (local backend)")
    print(f"{'hosts':>6} {'lab start s':>12} {'first up s':>11} {'no-change up s':>15}")
    for hosts in (int(count) for count in args.hosts.split(",")):
        with tempfile.TemporaryDirectory() as scratch:
            os.environ["PULUMI_BACKEND_URL"] = f"file://{scratch}"
            directory = Path(scratch) / "lab"
            try:
                lab_seconds, first, again = measure(hosts, directory)
            finally:
                down(directory, quiet=True)
            print(f"{hosts:>6} {lab_seconds:>12.1f} {first:>11.1f} {again:>15.1f}", flush=True)


if __name__ == "__main__":
    main()
