"""The `org` section: departments, projects, quotas per node pool, priorities
and access. One model for both schedulers: the Run:ai path turns it into
Run:ai departments and projects, the KAI path into Queues, namespaces and
RoleBindings."""

from __future__ import annotations

import re
from collections import Counter
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from stacks.base import Section

UNLIMITED = "unlimited"
# A guaranteed amount or a cap: a number of at least 0, or "unlimited"
# (Run:ai and KAI both write it as -1).
Amount = float | Literal["unlimited"]

# Run:ai's rule for department, project and node-pool names.
_ORG_NAME = re.compile(r"^[a-z][a-z0-9-]{0,61}[a-z0-9]$|^[a-z]$")


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(f"{value!r} is not an email address (Run:ai names local users by email)")
    return value


def check_org_name(value: str) -> str:
    if not _ORG_NAME.match(value):
        raise ValueError(f"{value!r}: use lowercase letters, digits and '-', starting with a letter (Run:ai's rule)")
    return value


OrgName = Annotated[str, AfterValidator(check_org_name)]


def as_number(amount: Amount) -> float:
    """-1 for unlimited, as both schedulers write it."""
    return -1 if amount == UNLIMITED else float(amount)


def show(amount: Amount | str) -> str:
    """12 rather than 12.0 in messages."""
    return f"{amount:g}" if isinstance(amount, float) else str(amount)


def _non_negative(amount: Amount) -> Amount:
    if amount != UNLIMITED and float(amount) < 0:
        raise ValueError(f"{amount}: a quota is 0 or more, or 'unlimited' (not -1)")
    return amount


Quantity = Annotated[Amount, AfterValidator(_non_negative)]


class PoolQuota(Section):
    """What a department or project gets in one node pool."""

    gpu: Quantity = 0  # guaranteed GPUs (Run:ai's "deserved")
    gpu_limit: Quantity = UNLIMITED
    # Unset CPU or memory is not managed: KAI gets no quota to hold it to.
    cpu: Quantity | None = None
    """cores; unset: not managed (on the KAI path, an unlimited quota)"""
    cpu_limit: Quantity = UNLIMITED
    memory_gb: Quantity | None = None
    """unset: not managed (on the KAI path, an unlimited quota)"""
    memory_gb_limit: Quantity = UNLIMITED
    over_quota_weight: int = Field(1, ge=0)
    """Share of idle capacity beyond quotas, among queues of equal priority."""
    order: int = Field(1, ge=1)
    """Order in which the pool is tried; without it Run:ai workloads can queue forever with GPUs free (seen in
    practice), so it defaults to 1."""

    def scheduler_amounts(self, over_quota: bool, unset_quota: float) -> dict[str, dict[str, float]]:
        """Quota, limit and over-quota weight per resource as both schedulers
        take them: GPUs, CPU millicores, memory in MB (10^6 bytes), -1 for
        unlimited, every field explicit; `unset_quota` for CPU or memory the
        stack does not manage. Over-quota off means a hard limit at the quota
        and no share of idle capacity; CPU or memory without a quota (or with
        one of 0) keeps its own limit (the scheduler reads a limit of 0 as
        none at all, so pods asking for any CPU would never run)."""
        amounts = {}
        for field, key, scale in (("gpu", "gpu", 1), ("cpu", "cpu", 1000), ("memory_gb", "memory", 1000)):
            quota = getattr(self, field)
            guaranteed = unset_quota if quota is None else as_number(quota)
            capped = not over_quota and quota is not None and (key == "gpu" or guaranteed != 0)
            limit = guaranteed if capped else as_number(getattr(self, f"{field}_limit"))
            amounts[key] = {
                "quota": guaranteed if guaranteed < 0 else guaranteed * scale,
                "limit": limit if limit < 0 else limit * scale,
                "overQuotaWeight": self.over_quota_weight if over_quota else 0,
            }
        return amounts

    def unmanaged(self) -> list[str]:
        """The resources (as the schedulers name them) whose quota the stack leaves unset."""
        return [key for field, key in (("cpu", "cpu"), ("memory_gb", "memory")) if getattr(self, field) is None]

    @model_validator(mode="after")
    def _limits_cover_quotas(self) -> PoolQuota:
        for resource in ("gpu", "cpu", "memory_gb"):
            quota, limit = getattr(self, resource), getattr(self, f"{resource}_limit")
            if quota is not None and limit != UNLIMITED and (quota == UNLIMITED or float(quota) > float(limit)):
                camel = resource.replace("_gb", "Gb")
                raise ValueError(
                    f"{camel}Limit {show(limit)} is below {camel} {show(quota)}: raise the limit or lower the quota"
                )
        return self


class AccessRole(StrEnum):
    RESEARCHER = "researcher"  # submit and manage workloads
    ML_ENGINEER = "ml-engineer"  # researcher rights, meant for inference
    VIEWER = "viewer"  # read only
    DEPARTMENT_ADMIN = "department-admin"  # researcher rights in every project of its department


# Run:ai's application name pattern (2.20+).
APPLICATION_NAME = r"^[a-z][-_a-z0-9]*[a-z0-9]$"


class Access(Section):
    """One user, group or (Run:ai) application with one role, on the project
    or department it is listed under."""

    user: str | None = Field(None, min_length=1)
    group: str | None = Field(None, min_length=1)
    application: str | None = Field(None, pattern=APPLICATION_NAME)
    role: AccessRole

    @model_validator(mode="after")
    def _one_subject(self) -> Access:
        if sum(subject is not None for subject in (self.user, self.group, self.application)) != 1:
            raise ValueError("give exactly one of user, group or application")
        return self

    @property
    def subject(self) -> tuple[str, str]:
        if self.application:
            return ("App", self.application)
        return ("User", self.user) if self.user else ("Group", self.group or "")


class Project(Section):
    name: OrgName
    """as for departments, unique across departments"""
    # Kubernetes namespace of the project's workloads (Run:ai's default name).
    namespace: str | None = None
    """the project's namespace (default: `runai-<name>`)"""
    quotas: dict[OrgName, PoolQuota] = Field(default_factory=dict)
    """per node pool; their sum fits the department's"""
    # None: as its department.
    over_quota: bool | None = None
    """unset: the department's"""
    priority: int = Field(100, ge=0)
    """Idle capacity beyond quotas goes first to higher priorities (KAI's 100 is the middle)."""
    # PriorityClass for workloads that name none.
    default_priority_class: str | None = None
    """Run:ai path only: a class Run:ai has (`train` ... `inference`)"""
    access: list[Access] = Field(default_factory=list)
    """`{user:, group: or application:, role:}`"""

    @property
    def namespace_name(self) -> str:
        return self.namespace or f"runai-{self.name}"


class Department(Section):
    name: OrgName
    """lowercase letters, digits, `-`, starting with a letter (Run:ai's rule), unique"""
    quotas: dict[OrgName, PoolQuota] = Field(default_factory=dict)
    """per node pool (must be some node's `nodePool`): see the quota keys above"""
    over_quota: bool = True
    """may use idle GPUs beyond its quota (preemptible there)"""
    priority: int = Field(100, ge=0)
    """idle capacity goes first to higher priorities"""
    projects: list[Project] = Field(default_factory=list)
    access: list[Access] = Field(default_factory=list)
    """`{user:, group: or application:, role:}` (application: Run:ai path, one of `applications`); reaches every
    project of the department"""

    def project_over_quota(self, project: Project) -> bool:
        return self.over_quota if project.over_quota is None else project.over_quota


class ComputeResource(Section):
    """A size researchers pick when they submit (Run:ai path; one per GPU
    count from 0 to 8 is a common set)."""

    name: OrgName
    gpus: int = Field(0, ge=0, le=64)
    gpu_portion: float | None = Field(None, gt=0, lt=1)
    """A share of one GPU instead of whole ones (0 < portion < 1)."""
    cpu_cores: float = Field(1, gt=0)
    memory_gb: float = Field(4, gt=0)

    @model_validator(mode="after")
    def _whole_or_portion(self) -> ComputeResource:
        if self.gpu_portion is not None and self.gpus != 0:
            raise ValueError("give gpus (whole devices) or gpuPortion (a share of one), not both")
        return self


class WorkloadType(StrEnum):
    TRAININGS = "trainings"
    WORKSPACES = "workspaces"
    DISTRIBUTED = "distributed"
    INFERENCES = "inferences"


class WorkloadPolicy(Section):
    """Run:ai path: defaults, rules and imposed assets for one workload type,
    on the whole cluster, a department or a project (as Run:ai's policy YAML,
    e.g. `defaults: {backoffLimit: 0}`)."""

    workload: WorkloadType
    department: str | None = None
    project: str | None = None
    defaults: dict[str, Any] = Field(default_factory=dict)
    rules: dict[str, Any] = Field(default_factory=dict)
    imposed_assets: list[str] = Field(default_factory=list)

    @property
    def scope(self) -> str:
        return "project" if self.project else "department" if self.department else "tenant"


class OrgConfig(Section):
    """Node pools, departments, projects, quotas, priorities, access."""

    departments: list[Department] = Field(default_factory=list)
    # Run:ai local users (emails), made with a temporary password (Run:ai's
    # create-user flow); their access comes from the access lists.
    local_users: list[Annotated[str, AfterValidator(_email)]] = Field(default_factory=list)
    """Run:ai local users by email (Run:ai path only); temporary passwords in the secret output `runaiUserPasswords`"""
    # Run:ai applications for automation (a CI pipeline submitting jobs), each
    # secret shown once and kept as a secret output; access lists grant them.
    applications: list[Annotated[str, Field(pattern=APPLICATION_NAME)]] = Field(default_factory=list)
    """Run:ai applications by name (lowercase, digits, `-`, `_`; Run:ai path only), granted by access lists; secrets in
    the secret output `runaiApplicationSecrets`"""
    compute_resources: list[ComputeResource] = Field(default_factory=list)
    """Run:ai path: sizes researchers pick, `{name, gpus (0), gpuPortion (a share of one GPU instead), cpuCores (1),
    memoryGb (4)}` (one per GPU count from 0 to 8 is a common set)"""
    workload_policies: list[WorkloadPolicy] = Field(default_factory=list)
    """Run:ai path: `{workload (trainings, workspaces, distributed, inferences), department or project (neither: the
    whole cluster), defaults, rules, imposedAssets}` as in Run:ai's policy YAML; one per workload and scope"""
    # For trusted, cooperative users: nothing is ever preempted. Means over-quota off
    # everywhere and default priority classes that are non-preemptible.
    no_preemption: bool = False
    """nothing is ever preempted: every `overQuota` must be false and default classes non-preemptible (100 or more)"""

    @property
    def projects(self) -> list[tuple[Department, Project]]:
        return [(department, project) for department in self.departments for project in department.projects]

    @property
    def accesses(self) -> list[tuple[str, Access]]:
        """Every access entry, with where it is listed."""
        found = []
        for d, department in enumerate(self.departments):
            found += [(f"departments[{d}].access[{a}]", access) for a, access in enumerate(department.access)]
            for p, project in enumerate(department.projects):
                at = f"departments[{d}].projects[{p}].access"
                found += [(f"{at}[{a}]", access) for a, access in enumerate(project.access)]
        return found

    @model_validator(mode="after")
    def _unique_and_fitting(self) -> OrgConfig:
        _unique("departments[].name", [d.name for d in self.departments])
        _unique("departments[].projects[].name", [p.name for _, p in self.projects])
        _unique("departments[].projects[].namespace", [p.namespace_name for _, p in self.projects])
        _unique("localUsers", self.local_users)
        _unique("applications", self.applications)
        for where, access in self.accesses:
            if access.application and access.application not in self.applications:
                raise ValueError(
                    f"{where}.application: '{access.application}' is not in org.applications (Run:ai path); "
                    "add it there"
                )
        _unique("computeResources[].name", [c.name for c in self.compute_resources])
        _unique(
            "workloadPolicies[] (workload and scope)",
            [f"{w.workload.value} on {w.project or w.department or 'the cluster'}" for w in self.workload_policies],
        )
        departments = {d.name for d in self.departments}
        projects = {p.name for _, p in self.projects}
        for index, policy in enumerate(self.workload_policies):
            if policy.department and policy.project:
                raise ValueError(f"workloadPolicies[{index}]: give department or project, not both")
            if policy.department and policy.department not in departments:
                raise ValueError(f"workloadPolicies[{index}].department: '{policy.department}' is not a department")
            if policy.project and policy.project not in projects:
                raise ValueError(f"workloadPolicies[{index}].project: '{policy.project}' is not a project")
        for index, department in enumerate(self.departments):
            for pool, quota in department.quotas.items():
                _projects_fit(index, department, pool, quota)
        return self


def _unique(key: str, values: list[str]) -> None:
    twice = sorted(v for v, count in Counter(values).items() if count > 1)
    if twice:
        raise ValueError(f"{key}: {', '.join(twice)} used more than once; each must be unique")


def _projects_fit(index: int, department: Department, pool: str, quota: PoolQuota) -> None:
    for resource in ("gpu", "cpu", "memory_gb"):
        allowed = getattr(quota, resource)
        if allowed is None or allowed == UNLIMITED:  # not managed or not capped
            continue
        asked = [
            amount
            for p in department.projects
            if pool in p.quotas and (amount := getattr(p.quotas[pool], resource)) is not None
        ]
        total = UNLIMITED if UNLIMITED in asked else sum(float(a) for a in asked)
        if total == UNLIMITED or float(total) > float(allowed):
            camel = resource.replace("_gb", "Gb")
            raise ValueError(
                f"departments[{index}].quotas.{pool}.{camel}: the projects of '{department.name}' ask for "
                f"{show(total)} in pool '{pool}', more than the department's {show(allowed)}: raise the department's "
                "quota or lower the projects'"
            )
