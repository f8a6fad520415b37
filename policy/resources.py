"""Reading what a stack validation sees.

Stack rules read the summaries our components publish (the root's
`inventory`, the scheduling path's `organisation`): component outputs are
known during preview, while a Kubernetes object's properties are empty there
whenever the cluster does not exist yet. `props` is a read-only proxy without
`in`; `.get()` works. Reading a value that is unknown during preview raises
the SDK's UnknownValueError, which the engine reports as an advisory "can't
run policy during preview", so a rule never passes silently on a value it
could not see."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, StackValidationArgs

CLUSTER = "runai-cluster:cluster:Cluster"
# Components that publish an `organisation` summary: one entry per queue (or
# per Run:ai department or project and node pool).
ORGANISATIONS = {"runai-cluster:scheduling:KaiScheduling", "runai-cluster:runai:Organisation"}
QUEUE = "kubernetes:scheduling.run.ai/v2:Queue"
UNLIMITED = -1


def of_type(args: StackValidationArgs, resource_type: str) -> Iterator[PolicyResource]:
    return (r for r in args.resources if r.resource_type == resource_type)


def inventories(args: StackValidationArgs) -> list[tuple[str, Mapping[str, Any]]]:
    """(cluster name, inventory summary) of each root component."""
    found = []
    for resource in of_type(args, CLUSTER):
        inventory = resource.props.get("inventory")
        if inventory is not None:
            found.append((resource.name, inventory))
    return found


def organisations(args: StackValidationArgs) -> list[Mapping[str, Any]]:
    """`organisation` summaries: {"queues": [...], "priorityClasses": {...}}."""
    found = []
    for resource in args.resources:
        if resource.resource_type in ORGANISATIONS:
            summary = resource.props.get("organisation")
            if summary is not None:
                found.append(summary)
    return found


def metadata_name(resource: PolicyResource) -> str:
    metadata = resource.props.get("metadata") or {}
    return str(metadata.get("name") or resource.name)


def show(amount: float) -> str:
    return "unlimited" if amount == UNLIMITED else f"{amount:g}"


def stack_rule(
    problems: Callable[[StackValidationArgs], Iterable[str]],
) -> Callable[[StackValidationArgs, ReportViolation], None]:
    """A stack validation that reports each message `problems` finds."""

    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        for message in problems(args):
            report(message, None)

    return validate
