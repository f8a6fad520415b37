"""The scheduling tier: the lab (SSH hosts, API server, controller manager with
node lifecycle on), KAI's real CRDs, its scheduler, binder, podgrouper and
queuecontroller and KWOK as processes, and `pulumi up` of a KAI stack with two
node pools onto it. Tests schedule pods under the objects that `up` wrote."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.scheduler.kube import Cluster
from tools.lab.__main__ import apply, down
from tools.lab.scheduler import WORK_NAME, start_tier, tier_settings

HOSTS = 6  # a control plane, a system node and four GPU workers of 2 GPUs
POOLS = {"lab-gpu-1": "pool-a", "lab-gpu-2": "pool-a", "lab-gpu-3": "pool-b", "lab-gpu-4": "pool-b"}
# Two departments, one per pool: research (over-quota on and off) fills
# pool-a's 4 GPUs with its guarantees; platform is guaranteed 2 of pool-b's 4
# and may use 3, its projects at different queue priorities.
ORG: dict[str, Any] = {
    "departments": [
        {
            "name": "research",
            "quotas": {"pool-a": {"gpu": 4, "cpu": 4, "memoryGb": 16}},
            "projects": [
                {"name": "vision", "quotas": {"pool-a": {"gpu": 2, "cpu": 4, "memoryGb": 16}}},
                {"name": "speech", "quotas": {"pool-a": {"gpu": 2}}, "overQuota": False},
            ],
        },
        {
            "name": "platform",
            "quotas": {"pool-b": {"gpu": 2, "gpuLimit": 3}},
            "projects": [
                {"name": "serving", "quotas": {"pool-b": {"gpu": 1}}, "priority": 200},
                {"name": "batch", "quotas": {"pool-b": {"gpu": 1}}, "priority": 100},
            ],
        },
    ]
}
PROJECTS = ("vision", "speech", "serving", "batch")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("scheduler")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PULUMI_BACKEND_URL", f"file://{root / 'backend'}")
        (root / "backend").mkdir()
        directory = root / "lab"
        try:
            state = start_tier(directory, HOSTS)
            result = apply(
                directory, state, settings=tier_settings(state, ORG, POOLS), capture=True, work_name=WORK_NAME
            )
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
            yield Cluster(state.control_plane(directory))
        finally:
            down(directory, quiet=True, work_name=WORK_NAME)


@pytest.fixture
def kai(cluster: Cluster) -> Iterator[Cluster]:
    """The cluster with no pods in any project, before and after the test."""
    cluster.clear(*PROJECTS)
    yield cluster
    cluster.clear(*PROJECTS)
