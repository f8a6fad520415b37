"""Benchmarks: print figures, assert nothing.

1. Program evaluation under mocks (validation + graph construction) for
   generated inventories of 4, 8, 64 and 512 nodes (goal: 512 nodes under
   10 s, 64 -> 512 at most 10x), with the longest dependency chain of each
   (goal: 512 nodes at most 1.5x the depth of 8).
2. A real `pulumi preview` (engine, language host, plugins, local backend)
   of the same stacks; nothing is dialled during a preview (goal: 512 nodes
   under 30 s).

    python -m bench.run [--sizes 4,8,64,512] [--skip-preview]
"""

from __future__ import annotations

import argparse
import resource
import time

from tests.support.generated import generated
from tools.mocked_program import namespaced, run_program
from tools.stackrun import engine_env, init_stack, preview_json, throwaway_secrets, workdir


def evaluate(size: int) -> tuple[float, float, int, int]:
    """Seconds, CPU seconds, resources registered, and the longest dependency chain."""
    settings = generated(size, control_planes=3 if size >= 3 else 1)
    started, cpu = time.perf_counter(), time.process_time()
    recorded, _ = run_program(settings, stack="prod")
    elapsed = time.perf_counter() - started
    return elapsed, time.process_time() - cpu, len(recorded.resources), recorded.max_depth()


def preview(size: int) -> tuple[float, float, int]:
    """Seconds, CPU seconds of the engine and its plugins, and creates."""
    settings = namespaced(generated(size))
    env = engine_env()
    work = workdir("prod", settings=settings, name=f"bench-{size}")
    init_stack(work, "prod", env, throwaway_secrets())
    started, cpu = time.perf_counter(), _children_cpu()
    result = preview_json(work, "prod", env)
    elapsed = time.perf_counter() - started
    if result.get("failed"):
        raise RuntimeError(f"preview of {size} nodes failed: {result.get('diagnostics')}")
    return elapsed, _children_cpu() - cpu, sum(result["changeSummary"].values())


def _children_cpu() -> float:
    # CPU seconds stay comparable on a shared machine, where wall time does not.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="4,8,64,512")
    parser.add_argument("--skip-preview", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print("program evaluation under mocks")
    print(f"{'nodes':>6} {'resources':>10} {'depth':>6} {'seconds':>8} {'cpu s':>8}")
    evaluated = {}
    for size in sizes:
        seconds, cpu, count, depth = evaluated[size] = evaluate(size)
        print(f"{size:>6} {count:>10} {depth:>6} {seconds:>8.2f} {cpu:>8.2f}", flush=True)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of the evaluating process: {peak_mib:.0f} MiB")
    _growth("evaluation", {size: figures[0] for size, figures in evaluated.items()}, (64, 512))
    _growth("evaluation cpu", {size: figures[1] for size, figures in evaluated.items()}, (64, 512))
    # The rollout's waves, not the node count, set the depth.
    _growth("depth", {size: figures[3] for size, figures in evaluated.items()}, (8, 512))
    if args.skip_preview:
        return
    print("\nreal `pulumi preview` (local backend)")
    print(f"{'nodes':>6} {'creates':>10} {'seconds':>8} {'cpu s':>8}")
    previewed = {}
    for size in sizes:
        seconds, cpu, count = previewed[size] = preview(size)
        print(f"{size:>6} {count:>10} {seconds:>8.2f} {cpu:>8.2f}", flush=True)
    _growth("preview", {size: figures[0] for size, figures in previewed.items()}, (64, 512))
    _growth("preview cpu", {size: figures[1] for size, figures in previewed.items()}, (64, 512))


def _growth(what: str, figures: dict[int, float], *pairs: tuple[int, int]) -> None:
    """The ratio of `what` between sizes, for the pairs measured."""
    ratios = [f"{a} -> {b} nodes: {figures[b] / figures[a]:.2f}x" for a, b in pairs if a in figures and b in figures]
    if ratios:
        print(f"{what} growth: " + ", ".join(ratios))


if __name__ == "__main__":
    main()
