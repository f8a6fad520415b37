"""Tenancy on the KAI path, enforced by the API server: the scheduler charges a
pod to the queue its own (or its top owner's) label names and never reads the
namespace, so an unlabelled pod would wait for a queue that does not exist
and a mislabelled one would be charged to another project.

Two ValidatingAdmissionPolicies over the namespaces that carry a queue
label: pods must name the scheduler and their namespace's queue (refused with
the label to set), and PodGroups (made by KAI's podgrouper from the top
owner's label) must name it too, which catches a workload whose owner names
another queue; the podgrouper reports that refusal as an event on the pod."""

from __future__ import annotations

from typing import Any

from components.managed import MANAGED_BY

POD_POLICY = "runai-cluster-pod-queue"
PODGROUP_POLICY = "runai-cluster-podgroup-queue"


def _match(api_group: str, resource: str, operations: list[str], queue_label: str) -> dict[str, Any]:
    return {
        "resourceRules": [
            {"apiGroups": [api_group], "apiVersions": ["*"], "operations": operations, "resources": [resource]}
        ],
        # Only the project namespaces the stack made.
        "namespaceSelector": {
            "matchLabels": MANAGED_BY,
            "matchExpressions": [{"key": queue_label, "operator": "Exists"}],
        },
    }


def _variables(queue_label: str) -> list[dict[str, str]]:
    return [
        {"name": "queue", "expression": f"namespaceObject.metadata.labels[{queue_label!r}]"},
        {"name": "projectNamespace", "expression": "namespaceObject.metadata.name"},
    ]


def pod_policy(queue_label: str, scheduler_name: str) -> dict[str, Any]:
    """The spec of the policy on pods: scheduled by KAI, labelled with the namespace's queue."""
    labelled = (
        f"has(object.metadata.labels) && {queue_label!r} in object.metadata.labels && "
        f"object.metadata.labels[{queue_label!r}] == variables.queue"
    )
    return {
        "failurePolicy": "Fail",
        "matchConstraints": _match("", "pods", ["CREATE"], queue_label),
        "variables": _variables(queue_label),
        "validations": [
            {
                "expression": f"object.spec.schedulerName == {scheduler_name!r}",
                "messageExpression": (
                    f"'pods in ' + variables.projectNamespace + ' are scheduled by {scheduler_name} within project "
                    f"queue ' + variables.queue + ': set spec.schedulerName: {scheduler_name}'"
                ),
                "reason": "Forbidden",
            },
            {
                "expression": labelled,
                "messageExpression": (
                    "'pods in ' + variables.projectNamespace + ' are charged to project queue ' + variables.queue + "
                    f"': set the label {queue_label}=' + variables.queue + "
                    "' on the pod (for a workload, on its pod template and on the workload itself)'"
                ),
                "reason": "Forbidden",
            },
        ],
    }


def podgroup_policy(queue_label: str) -> dict[str, Any]:
    """The spec of the policy on PodGroups: charged to the namespace's queue."""
    return {
        "failurePolicy": "Fail",
        "matchConstraints": _match("scheduling.run.ai", "podgroups", ["CREATE", "UPDATE"], queue_label),
        "variables": _variables(queue_label),
        "validations": [
            {
                "expression": "has(object.spec.queue) && object.spec.queue == variables.queue",
                "messageExpression": (
                    "'workloads in ' + variables.projectNamespace + ' are charged to project queue ' + "
                    "variables.queue + ', not ' + (has(object.spec.queue) ? object.spec.queue : 'none') + "
                    f"': set the label {queue_label}=' + variables.queue + ' on the workload and its pod template'"
                ),
                "reason": "Forbidden",
            }
        ],
    }
