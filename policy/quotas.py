"""Quota rules over the organisation's queues (KAI Queues; Run:ai projects and
departments once that path lands): node pools are not over-committed,
projects fit their departments, over-quota is off where the stack says so,
and quotas only name pools that have nodes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)
from resources import UNLIMITED, inventories, organisations, show, stack_rule

RESOURCES = ("gpu", "cpu", "memory")


@dataclass(frozen=True)
class Queue:
    name: str
    parent: str | None
    pool: str | None
    # resource -> (quota, limit, overQuotaWeight); -1 is unlimited.
    resources: Mapping[str, tuple[float, float, float]]
    # Resources whose quota the stack leaves unset: neither a guarantee nor a cap.
    unmanaged: frozenset[str] = frozenset()


def queues(args: StackValidationArgs) -> list[Queue]:
    found = []
    for organisation in organisations(args):
        for entry in organisation.get("queues") or []:
            amounts = entry.get("resources") or {}
            found.append(
                Queue(
                    name=str(entry.get("name")),
                    parent=entry.get("parent"),
                    pool=entry.get("pool"),
                    resources={
                        key: (
                            float((amounts.get(key) or {}).get("quota", 0)),
                            float((amounts.get(key) or {}).get("limit", UNLIMITED)),
                            float((amounts.get(key) or {}).get("overQuotaWeight", 1)),
                        )
                        for key in RESOURCES
                    },
                    unmanaged=frozenset(entry.get("unmanaged") or ()),
                )
            )
    return found


def _total(amounts: list[float]) -> float:
    return UNLIMITED if UNLIMITED in amounts else sum(amounts)


def pools_not_overcommitted(found: list[Queue], pool_gpus: Mapping[str, int], ratio: float | None) -> list[str]:
    """Department (top-level) GPU quotas per pool within the pool's GPUs times
    `ratio`; None means any over-commit is allowed."""
    if ratio is None:
        return []
    by_pool: dict[str, list[Queue]] = defaultdict(list)
    for queue in found:
        if queue.parent is None and queue.pool is not None:
            by_pool[queue.pool].append(queue)
    problems = []
    for pool, tops in sorted(by_pool.items()):
        total = _total([q.resources["gpu"][0] for q in tops])
        gpus = float(pool_gpus.get(pool, 0))
        allowed = gpus * ratio
        if total == UNLIMITED or total > allowed:
            names = ", ".join(f"{q.name}={show(q.resources['gpu'][0])}" for q in tops)
            problems.append(
                f"node pool '{pool}': departments are guaranteed {show(total)} GPUs ({names}) but the pool has "
                f"{show(gpus)} GPUs and the allowed over-commit is {ratio:g}x ({allowed:g}): lower "
                "the departments' gpu quotas in `org` or add GPU nodes to the pool"
            )
    return problems


def projects_fit_departments(found: list[Queue]) -> list[str]:
    """Per department and node pool, its projects' guarantees fit its own."""
    parents = {(q.name, q.pool): q for q in found if q.parent is None}
    parent_names = {name for name, _ in parents}
    children: dict[tuple[str, str | None], list[Queue]] = defaultdict(list)
    for queue in found:
        if queue.parent is not None:
            children[(queue.parent, queue.pool)].append(queue)
    problems = []
    for (parent_name, pool), leaves in sorted(children.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        if parent_name not in parent_names:
            problems.append(
                f"queues {', '.join(q.name for q in leaves)}: parent '{parent_name}' is not in the stack: "
                "add the department to `org.departments`"
            )
            continue
        parent = parents.get((parent_name, pool))
        for key in RESOURCES:
            if parent and key in parent.unmanaged:
                continue
            allowed = parent.resources[key][0] if parent else 0.0
            total = _total([q.resources[key][0] for q in leaves if key not in q.unmanaged])
            if allowed != UNLIMITED and (total == UNLIMITED or total > allowed):
                where = f" in pool '{pool}'" if pool else ""
                problems.append(
                    f"department '{parent_name}': its projects are guaranteed {show(total)} {key}{where} but the "
                    f"department only {show(allowed)}: lower the projects' {key} quotas or raise the department's"
                )
    return problems


def over_quota_off(found: list[Queue], no_preemption: bool) -> list[str]:
    if not no_preemption:
        return []
    return [
        f"queue '{q.name}': org.noPreemption is true but {key} may go over quota (limit {show(limit)}, "
        f"quota {show(quota)}, overQuotaWeight {weight:g}): set overQuota: false on it"
        for q in found
        for key, (quota, limit, weight) in q.resources.items()
        if (limit != quota or weight != 0) and not uncapped(q, key, quota, weight)
    ]


def uncapped(queue: Queue, key: str, quota: float, weight: float) -> bool:
    """CPU or memory the stack does not manage, or with a quota of 0 on an
    over-quota-off queue: left uncapped (a limit of 0 would refuse every pod
    asking for it)."""
    return key in queue.unmanaged or (key != "gpu" and quota == 0 and weight == 0)


def pools_have_nodes(found: list[Queue], pool_gpus: Mapping[str, int], unpooled: list[str]) -> list[str]:
    problems = [
        f"queue '{q.name}': guarantees {show(q.resources['gpu'][0])} GPUs in node pool '{q.pool}', which has no "
        "GPU nodes: set nodePool on GPU nodes or move the quota"
        for q in found
        if q.pool is not None and q.resources["gpu"][0] != 0 and pool_gpus.get(q.pool, 0) == 0
    ]
    if found and unpooled:
        problems.append(
            f"GPU nodes {', '.join(unpooled)} are in no node pool, so no quota covers them: set `nodePool` on each"
        )
    return problems


def _ratio(config: Mapping[str, Any]) -> float | None:
    value = config.get("overcommitRatio", 1.0)
    return None if value == "unlimited" else float(value)


Check = Callable[[list[Queue], Mapping[str, Any], Mapping[str, Any]], list[str]]


def _queue_rule(check: Check) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def problems(args: StackValidationArgs) -> list[str]:
        found = queues(args)
        if not found:
            return []
        return [message for _, inventory in inventories(args) for message in check(found, inventory, args.get_config())]

    return stack_rule(problems)


RATIO_SCHEMA = PolicyConfigSchema(
    properties={
        "overcommitRatio": {
            "description": "Allowed department GPU quota per pool GPU; 'unlimited' allows any.",
            "oneOf": [{"type": "number", "minimum": 0}, {"type": "string", "enum": ["unlimited"]}],
            "default": 1.0,
        }
    }
)

POLICIES = [
    StackValidationPolicy(
        name="quota-node-pool-capacity",
        description="Department GPU quotas per node pool within its GPUs times the allowed over-commit.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_queue_rule(
            lambda found, inv, config: pools_not_overcommitted(found, inv.get("nodePoolGpus") or {}, _ratio(config))
        ),
        config_schema=RATIO_SCHEMA,
    ),
    StackValidationPolicy(
        name="quota-projects-within-department",
        description="The projects' quotas fit their department's, per resource.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_queue_rule(lambda found, _inv, _config: projects_fit_departments(found)),
    ),
    StackValidationPolicy(
        name="quota-over-quota-off",
        description="No queue may go over quota when the stack says no preemption.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_queue_rule(lambda found, inv, _config: over_quota_off(found, bool(inv.get("noPreemption")))),
    ),
    StackValidationPolicy(
        name="quota-node-pools-have-nodes",
        description="No GPU quota on a pool without GPU nodes; every GPU node in a pool.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_queue_rule(
            lambda found, inv, _config: pools_have_nodes(
                found, inv.get("nodePoolGpus") or {}, list(inv.get("gpuNodesWithoutPool") or [])
            )
        ),
    ),
]
