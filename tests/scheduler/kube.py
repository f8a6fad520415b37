"""Pods, PodGroups and waits for the scheduling tier, on the lab's API server.
Every wait polls the scheduler's own record (a pod's node, a PodGroup's
scheduling conditions, events) until it says what the test expects."""

from __future__ import annotations

import time
import urllib.error
from collections.abc import Callable
from typing import Any, TypeVar

from tools.lab.control_plane import ControlPlane
from tools.lab.scheduler import SCHEDULER_NAME

QUEUE_LABEL = "kai.scheduler/queue"
SCHEDULER = SCHEDULER_NAME
POOL_LABEL = "run.ai/node-pool"
PODGROUPS = "/apis/scheduling.run.ai/v2alpha2/namespaces/{}/podgroups"
# KAI's podgrouper names each pod's PodGroup in this annotation.
PODGROUP_ANNOTATION = "pod-group-name"
T = TypeVar("T")


def pod(
    name: str,
    queue: str | None,
    priority_class: str = "train",
    gpus: int = 1,
    cpu: str | None = None,
    scheduler: str = SCHEDULER,
    memory: str | None = None,
) -> dict[str, Any]:
    """A pod asking for `gpus` GPUs (and `cpu` and `memory`, when given)."""
    requests = {"nvidia.com/gpu": str(gpus)} if gpus else {}
    if cpu:
        requests["cpu"] = cpu
    if memory:
        requests["memory"] = memory
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {QUEUE_LABEL: queue} if queue else {}},
        "spec": {
            "schedulerName": scheduler,
            "priorityClassName": priority_class,
            "containers": [{"name": "main", "image": "busybox", "resources": {"limits": requests}}],
        },
    }


def wait_for(check: Callable[[], T | None], what: str, seconds: float = 90) -> T:
    """Poll `check` until it returns something true."""
    deadline = time.monotonic() + seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g}s: {what}")
        time.sleep(0.2)


class Cluster:
    """The tier's view of the lab: projects' namespaces as `pulumi up` wrote
    them (found by their queue label), pods submitted and observed."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane

    def namespace(self, project: str) -> str:
        found = self.plane.request("GET", f"/api/v1/namespaces?labelSelector={QUEUE_LABEL}={project}")["items"]
        assert len(found) == 1, f"one namespace for project {project}: {found}"
        return str(found[0]["metadata"]["name"])

    def submit(self, project: str, *pods: dict[str, Any], namespace: str | None = None) -> None:
        where = namespace or self.namespace(project)
        for body in pods:
            self.plane.request("POST", f"/api/v1/namespaces/{where}/pods", body)

    def refusal(self, project: str, body: dict[str, Any]) -> str:
        """The API server's message refusing the pod `body` in the project's namespace."""
        try:
            self.submit(project, body)
        except urllib.error.HTTPError as error:
            return str(error.read().decode())
        raise AssertionError(f"{body['metadata']['name']} was admitted")

    def pods(self, project: str) -> dict[str, dict[str, Any]]:
        items = self.plane.request("GET", f"/api/v1/namespaces/{self.namespace(project)}/pods")["items"]
        return {p["metadata"]["name"]: p for p in items if not p["metadata"].get("deletionTimestamp")}

    def bound(self, project: str) -> dict[str, str]:
        """Pod name -> node, for the project's pods the scheduler has bound."""
        return {name: p["spec"]["nodeName"] for name, p in self.pods(project).items() if p["spec"].get("nodeName")}

    def node_pool(self, node: str) -> str:
        return str(self.plane.node(node)["metadata"]["labels"].get(POOL_LABEL))

    def reasons(self, project: str, pod_name: str) -> list[str]:
        """The reasons KAI wrote on the pod's PodGroup for not scheduling it."""
        found = self.pods(project).get(pod_name)
        group = (found or {}).get("metadata", {}).get("annotations", {}).get(PODGROUP_ANNOTATION)
        if not group:
            return []
        podgroup = self.plane.request("GET", f"{PODGROUPS.format(self.namespace(project))}/{group}")
        conditions = (podgroup.get("status") or {}).get("schedulingConditions") or []
        # Each reason KAI names, or the condition's own where it names none.
        return [
            f"{reason.get('reason')}: {reason.get('message')}"
            for condition in conditions
            for reason in condition.get("reasons") or [condition]
        ]

    def podgroups(self, project: str) -> list[dict[str, Any]]:
        return list(self.plane.request("GET", PODGROUPS.format(self.namespace(project)))["items"])

    def events(self, project: str, pod_name: str) -> list[dict[str, Any]]:
        selector = f"involvedObject.kind=Pod,involvedObject.name={pod_name}"
        path = f"/api/v1/namespaces/{self.namespace(project)}/events?fieldSelector={selector}"
        return list(self.plane.request("GET", path)["items"])

    def wait_bound(self, project: str, count: int, seconds: float = 90) -> dict[str, str]:
        """Wait until exactly `count` of the project's pods are bound."""
        return wait_for(
            lambda: (found := self.bound(project)) and len(found) == count and found,
            f"{count} pods of {project} bound (bound: {self.bound(project)})",
            seconds,
        )

    def wait_refused(self, project: str, pod_name: str, reason: str, seconds: float = 90) -> str:
        """Wait until KAI says why the pod is not scheduled, with `reason`."""
        return wait_for(
            lambda: next((r for r in self.reasons(project, pod_name) if r.startswith(reason)), None),
            f"{project}/{pod_name} unschedulable for {reason} (reasons: {self.reasons(project, pod_name)})",
            seconds,
        )

    def clear(self, *projects: str, seconds: float = 60) -> None:
        """Delete the projects' pods, jobs and PodGroups and wait until they are gone."""
        now = "?gracePeriodSeconds=0&propagationPolicy=Background"
        for project in projects:
            namespace = self.namespace(project)
            for collection in (
                f"/apis/batch/v1/namespaces/{namespace}/jobs",
                f"/api/v1/namespaces/{namespace}/pods",
                PODGROUPS.format(namespace),
            ):
                self.plane.request("DELETE", collection + now)
        wait_for(
            lambda: not any(self.plane_pods(p) or self.podgroups(p) for p in projects),
            f"pods and PodGroups of {', '.join(projects)} gone",
            seconds,
        )

    def plane_pods(self, project: str) -> list[dict[str, Any]]:
        """Every pod of the project, terminating ones included."""
        return list(self.plane.request("GET", f"/api/v1/namespaces/{self.namespace(project)}/pods")["items"])
