"""Priority rules over the PriorityClasses the stack creates (the KAI path;
on the Run:ai path Run:ai owns its classes and the stack only names them)."""

from __future__ import annotations

import itertools

from pulumi_policy import EnforcementLevel, StackValidationArgs, StackValidationPolicy
from resources import inventories, organisations, stack_rule

# Lowest to highest: training yields to builds, builds to inference.
CANONICAL_ORDER = ["train", "build-preemptible", "build", "inference"]
# Kubernetes keeps values above one billion for system-critical pods.
SYSTEM_CRITICAL = 1_000_000_000
# At or above this, Run:ai and KAI treat a workload as non-preemptible.
NON_PREEMPTIBLE = 100


def priority_problems(classes: dict[str, tuple[int, bool]]) -> list[str]:
    """`classes`: name -> (value, globalDefault)."""
    problems = []
    present = [name for name in CANONICAL_ORDER if name in classes]
    for lower, higher in itertools.pairwise(present):
        if classes[lower][0] >= classes[higher][0]:
            problems.append(
                f"PriorityClass '{lower}' ({classes[lower][0]}) is not below '{higher}' ({classes[higher][0]}): "
                f"keep the order {' < '.join(CANONICAL_ORDER)} in scheduler.kai.priorityClasses"
            )
    for name, (value, _) in sorted(classes.items()):
        if value >= SYSTEM_CRITICAL:
            problems.append(
                f"PriorityClass '{name}' has value {value}, in the system-critical range: use a value below "
                f"{SYSTEM_CRITICAL}"
            )
    defaults = sorted(name for name, (_, default) in classes.items() if default)
    if len(defaults) > 1:
        problems.append(
            f"PriorityClasses {', '.join(defaults)} are all globalDefault; Kubernetes allows one: keep one in "
            "scheduler.kai.globalDefaultPriorityClass"
        )
    return problems


def stack_priorities(args: StackValidationArgs) -> list[str]:
    classes = {
        str(name): (int(spec.get("value") or 0), bool(spec.get("globalDefault")))
        for organisation in organisations(args)
        for name, spec in (organisation.get("priorityClasses") or {}).items()
    }
    return priority_problems(classes)


def name_problems(organisation: dict[str, object], no_preemption: bool) -> list[str]:
    """Project and workload-policy defaults name classes that exist; under
    "no preemption" only non-preemptible ones."""
    available = {str(k): int(v) for k, v in dict(organisation.get("availableClasses") or {}).items()}
    problems = []
    for named in list(organisation.get("priorityNames") or []):
        where, name = str(named["where"]), str(named["name"])
        if name not in available:
            problems.append(f"{where}: priority class '{name}' does not exist (there are: {', '.join(available)})")
        elif no_preemption and available[name] < NON_PREEMPTIBLE:
            problems.append(
                f"{where}: priority class '{name}' ({available[name]}) is preemptible but org.noPreemption is true: "
                f"name a class of {NON_PREEMPTIBLE} or more"
            )
    return problems


def stack_priority_names(args: StackValidationArgs) -> list[str]:
    no_preemption = any(bool(inventory.get("noPreemption")) for _, inventory in inventories(args))
    return [
        problem for organisation in organisations(args) for problem in name_problems(dict(organisation), no_preemption)
    ]


POLICIES = [
    StackValidationPolicy(
        name="priority-class-order",
        description="PriorityClasses in the canonical order, below the system-critical range, one default at most.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=stack_rule(stack_priorities),
    ),
    StackValidationPolicy(
        name="priority-names",
        description="Project and workload-policy priority defaults name classes that exist, non-preemptible "
        "ones when nothing may be preempted.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=stack_rule(stack_priority_names),
    ),
]
