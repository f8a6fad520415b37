"""Benchmark of the real KAI Scheduler under a stack's organisation: N
one-GPU pods submitted to one project, timed from the first submission until
the scheduler has bound them all (KWOK nodes of 8 GPUs beside the lab's
hosts, in the project's pool). Prints figures, asserts nothing.

    python -m bench.scheduler [--pods 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.scheduler.kube import POOL_LABEL, Cluster, pod, wait_for
from tools.lab.__main__ import apply, down
from tools.lab.scheduler import WORK_NAME, hand_to_kwok, start_tier, tier_settings

POOL = "bench"
GPUS_PER_NODE = 8
# Guaranteed the lab hosts' 4 GPUs, the rest borrowed (named like the lab's department, whose share it keeps).
ORG = {"departments": [{"name": "research", "quotas": {POOL: {"gpu": 4}}, "projects": [{"name": "load"}]}]}


def measure(directory: Path, pods: int) -> tuple[float, float]:
    """(seconds to submit, seconds from the first submission to all bound)."""
    state = start_tier(directory, 4)
    pools = {host["name"]: POOL for host in state.hosts if host["gpus"]}
    result = apply(directory, state, settings=tier_settings(state, ORG, pools), capture=True, work_name=WORK_NAME)
    if result.returncode != 0:
        raise RuntimeError(f"up failed:\n{result.stdout}{result.stderr}")
    plane = state.control_plane(directory)
    extra = [f"bench-{index}" for index in range(-(-pods // GPUS_PER_NODE))]
    for name in extra:
        plane.register_node(name, "127.0.0.1", GPUS_PER_NODE)
        labels = {"metadata": {"labels": {POOL_LABEL: POOL}}}
        plane.request("PATCH", f"/api/v1/nodes/{name}", labels, "application/merge-patch+json")
    hand_to_kwok(plane, extra)
    cluster = Cluster(plane)
    # One pod first, so the processes' start-up is not counted.
    cluster.submit("load", pod("warm-up", "load"))
    cluster.wait_bound("load", 1, seconds=120)
    started = time.perf_counter()
    # In parallel, as many clients would: one at a time, the lab's client is the bottleneck.
    namespace = cluster.namespace("load")
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: cluster.submit("load", pod(f"p{i}", "load"), namespace=namespace), range(pods)))
    submitted = time.perf_counter() - started
    wait_for(lambda: len(cluster.bound("load")) == pods + 1, f"{pods} pods bound", seconds=600)
    return submitted, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["PULUMI_BACKEND_URL"] = f"file://{scratch}"
        directory = Path(scratch) / "lab"
        try:
            submitted, bound = measure(directory, args.pods)
        finally:
            down(directory, quiet=True, work_name=WORK_NAME)
    print("scheduler: one-GPU pods under the stack's queues, real KAI Scheduler, KWOK nodes")
    print(f"{'pods':>6} {'submitted s':>12} {'all bound s':>12}")
    print(f"{args.pods:>6} {submitted:>12.1f} {bound:>12.1f}", flush=True)


if __name__ == "__main__":
    main()
