"""The organisation's quotas and priorities, held by the real KAI Scheduler
under the Queues, namespaces and PriorityClasses `pulumi up` wrote."""

from __future__ import annotations

from tests.scheduler.kube import Cluster, pod, wait_for


def test_a_project_gets_its_quota_in_its_pool(kai: Cluster) -> None:
    kai.submit("vision", pod("a", "vision"), pod("b", "vision"))
    bound = kai.wait_bound("vision", 2)
    assert {kai.node_pool(node) for node in bound.values()} == {"pool-a"}
    # The namespace's selector, put on the pod by the API server.
    assert {p["spec"]["nodeSelector"]["run.ai/node-pool"] for p in kai.pods("vision").values()} == {"pool-a"}


def test_over_quota_off_caps_gpus_and_leaves_cpu_alone(kai: Cluster) -> None:
    kai.submit("speech", pod("a", "speech"), pod("b", "speech"))
    kai.wait_bound("speech", 2)
    kai.submit("speech", pod("c", "speech"))
    refused = kai.wait_refused("speech", "c", "OverLimit")
    assert "Limit is 2 GPUs" in refused
    # The project has no CPU quota: a CPU-only pod runs (a limit of 0 refused it).
    kai.submit("speech", pod("cpu", "speech", gpus=0, cpu="500m"))
    assert "cpu" in kai.wait_bound("speech", 3)
    assert "c" not in kai.bound("speech")


def test_non_preemptible_pods_use_cpu_and_memory_no_quota_manages(kai: Cluster) -> None:
    # serving and its department have GPU quotas only: CPU and memory are
    # not managed there (a quota of 0 refused these: NonPreemptibleOverQuota).
    kai.submit(
        "serving",
        pod("build", "serving", "build", cpu="500m", memory="1Gi"),
        pod("inference", "serving", "inference", gpus=0, cpu="1", memory="2Gi"),
    )
    kai.wait_bound("serving", 2)


def test_idle_gpus_are_borrowed_and_reclaimed_for_their_owner(kai: Cluster) -> None:
    kai.submit("vision", *(pod(f"v{i}", "vision") for i in range(4)))
    kai.wait_bound("vision", 4)  # 2 of its own, 2 of speech's idle quota
    kai.submit("speech", pod("s0", "speech"), pod("s1", "speech"))
    kai.wait_bound("speech", 2)
    # The borrowed two were evicted: both projects hold their quota.
    wait_for(lambda: len(kai.pods("vision")) == 2, f"vision back to its quota: {list(kai.pods('vision'))}")
    assert len(kai.bound("vision")) == 2


def test_a_department_limit_caps_its_projects(kai: Cluster) -> None:
    kai.submit("batch", *(pod(f"b{i}", "batch") for i in range(4)))
    kai.wait_bound("batch", 3)
    [waiting] = set(kai.pods("batch")) - set(kai.bound("batch"))
    # Pool-b has a fourth GPU free; the department may use 3.
    assert "platform" in kai.wait_refused("batch", waiting, "OverLimit")


def test_idle_gpus_go_to_the_higher_priority_queue(kai: Cluster) -> None:
    # One GPU beyond the two projects' quotas is within the department's
    # limit: it ends with serving (priority 200), whoever was placed first.
    kai.submit("batch", pod("b0", "batch"), pod("b1", "batch"))
    kai.submit("serving", pod("s0", "serving"), pod("s1", "serving"))
    kai.wait_bound("serving", 2)
    kai.wait_bound("batch", 1)


def test_priority_classes_inside_a_project(kai: Cluster) -> None:
    kai.submit("vision", pod("build", "vision", "build"), *(pod(f"t{i}", "vision") for i in range(3)))
    kai.wait_bound("vision", 4)  # pool-a full
    kai.submit("vision", pod("inference", "vision", "inference"))
    wait_for(lambda: "inference" in kai.bound("vision"), "inference bound")
    trains = {name for name in kai.pods("vision") if name.startswith("t")}
    assert len(trains) == 2, "one train pod preempted"
    kai.submit("vision", pod("preemptible", "vision", "build-preemptible"))
    wait_for(lambda: "preemptible" in kai.bound("vision"), "build-preemptible bound over train")
    # Inference outranks build, but build is non-preemptible: a second
    # inference pod waits (its quota holds no more non-preemptible GPUs).
    kai.submit("vision", pod("inference-2", "vision", "inference"))
    kai.wait_refused("vision", "inference-2", "NonPreemptibleOverQuota")
    assert {"build", "inference", "preemptible"} <= set(kai.bound("vision"))


def test_a_full_pool_does_not_spill_into_another(kai: Cluster) -> None:
    kai.submit("vision", *(pod(f"v{i}", "vision") for i in range(6)))
    bound = kai.wait_bound("vision", 4)
    assert {kai.node_pool(node) for node in bound.values()} == {"pool-a"}
    waiting = set(kai.pods("vision")) - set(bound)
    for name in waiting:
        wait_for(lambda name=name: kai.reasons("vision", name), f"KAI's reason for {name}")
    assert len(kai.bound("vision")) == 4  # pool-b's free GPUs were not used
