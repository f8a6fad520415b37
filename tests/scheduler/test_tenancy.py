"""A pod in a project's namespace is charged to that project's queue or
refused, never left waiting silently and never charged to another project."""

from __future__ import annotations

from typing import Any

from tests.scheduler.kube import QUEUE_LABEL, Cluster, pod, wait_for


def test_an_unlabelled_pod_is_refused_with_the_label_to_set(kai: Cluster) -> None:
    message = kai.refusal("speech", pod("unlabelled", None))
    assert f"set the label {QUEUE_LABEL}=speech" in message


def test_a_pod_labelled_with_another_projects_queue_is_refused(kai: Cluster) -> None:
    message = kai.refusal("speech", pod("elsewhere", "vision"))
    assert f"set the label {QUEUE_LABEL}=speech" in message
    assert kai.podgroups("vision") == []


def test_a_pod_for_another_scheduler_is_refused(kai: Cluster) -> None:
    message = kai.refusal("speech", pod("default", "speech", scheduler="default-scheduler"))
    assert "set spec.schedulerName: kai-scheduler" in message


def job(name: str, queue: str, template_queue: str) -> dict[str, Any]:
    template = pod(name, template_queue)
    del template["metadata"]["name"]
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: queue}},
        "spec": {"backoffLimit": 0, "template": template},
    }


def test_a_workload_whose_owner_names_another_queue_is_reported_not_charged(kai: Cluster) -> None:
    namespace = kai.namespace("speech")
    # KAI takes the queue from the top owner's label first.
    kai.plane.request("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", job("borrow", "vision", "speech"))
    [name] = wait_for(lambda: list(kai.pods("speech")), "the job's pod")
    warning = wait_for(
        lambda: next((e["message"] for e in kai.events("speech", name) if e["type"] == "Warning"), None),
        "the podgrouper's warning on the pod",
    )
    assert f"set the label {QUEUE_LABEL}=speech" in warning
    assert kai.podgroups("speech") == kai.podgroups("vision") == []
    assert kai.bound("speech") == {}


def test_a_labelled_job_is_charged_to_its_project(kai: Cluster) -> None:
    namespace = kai.namespace("speech")
    kai.plane.request("POST", f"/apis/batch/v1/namespaces/{namespace}/jobs", job("train", "speech", "speech"))
    kai.wait_bound("speech", 1)
    [group] = kai.podgroups("speech")
    assert group["spec"]["queue"] == "speech"
