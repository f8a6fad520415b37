"""The organisation in Run:ai: a node pool per inventory pool, departments
and projects with their quotas per pool, their people's access rules, and
the departments' NFS shares as data sources, through the control plane's
API."""

from __future__ import annotations

from typing import Any

import pulumi

from components.managed import Component
from components.runai.resources import RunaiObject, WorkloadPolicy, WorkloadSetting
from components.scheduling.access import binding_name
from stacks.model import StackConfig
from stacks.org import Access, AccessRole, ComputeResource, PoolQuota
from stacks.org import WorkloadPolicy as WorkloadPolicyConfig

# Run:ai's name for the order in which a unit's pools are tried.
ORDER_FIELD = "defaultNodePools"
# CPU or memory the stack leaves unset goes to Run:ai as a deserved 0 (the
# policy pack still reads it as unmanaged).
UNMANAGED_QUOTA = 0
# The Run:ai role each organisation role is granted as.
RUNAI_ROLES = {
    AccessRole.RESEARCHER: "L1 researcher",
    AccessRole.ML_ENGINEER: "ML engineer",
    AccessRole.VIEWER: "Viewer",
    AccessRole.DEPARTMENT_ADMIN: "Department administrator",
}


def quota_item(pool: str, pool_id: pulumi.Input[str], amounts: dict[str, dict[str, float]]) -> dict[str, Any]:
    """One `resources[]` entry from the amounts both schedulers share (Run:ai
    calls the quota `deserved` and wants memory's units spelled out)."""
    item: dict[str, Any] = {"nodePool": {"id": pool_id, "name": pool}}
    for key, amount in amounts.items():
        entry: dict[str, Any] = {
            "deserved": amount["quota"],
            "limit": amount["limit"],
            "overQuotaWeight": amount["overQuotaWeight"],
        }
        if key == "memory":
            entry["units"] = "MB"
        item[key] = entry
    return item


def compute_spec(compute: ComputeResource) -> dict[str, Any]:
    """Whole devices, or a portion of one (more than one device must use the
    portion type: a portion of 1 each)."""
    spec: dict[str, Any] = {"cpuCoreRequest": compute.cpu_cores, "cpuMemoryRequest": f"{compute.memory_gb:g}G"}
    if compute.gpu_portion is not None:
        return spec | {"gpuDevicesRequest": 1, "gpuRequestType": "portion", "gpuPortionRequest": compute.gpu_portion}
    spec["gpuDevicesRequest"] = compute.gpus
    if compute.gpus:
        spec |= {"gpuRequestType": "portion", "gpuPortionRequest": 1.0}
    return spec


class RunaiOrganisation(Component):
    def __init__(
        self,
        name: str,
        config: StackConfig,
        connection: pulumi.Output[str],
        cluster_id: pulumi.Input[str],
        registry_passwords: dict[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:runai:Organisation", name, opts)
        runai = config.runai
        # The registered cluster: a setting, or the registration this stack made.
        self._cluster_id = cluster_id
        # Departments, projects and pools outlive a mistaken rename in production.
        keep = self.child(protect=config.is_prod)
        self.pools = {
            pool: RunaiObject(
                f"{name}-pool-{pool}",
                kind="nodepools",
                spec={
                    "name": pool,
                    "labelKey": config.labels.node_pool,
                    "labelValue": pool,
                    "clusterId": cluster_id,
                    "placementStrategy": {"cpu": "binpack", "gpu": "binpack"},
                },
                connection=connection,
                opts=keep,
            )
            for pool in config.node_pools
        }
        # Local users first: access rules name them.
        self.users = {
            email: RunaiObject(
                f"{name}-user-{email}",
                kind="users",
                spec={"email": email},
                connection=connection,
                opts=self.child(),
            )
            for email in config.org.local_users
        }
        automation, self._automation_subject = config.runai.automation
        self.applications = {
            app: RunaiObject(
                f"{name}-application-{app}",
                kind=automation,
                spec={"name": app},
                connection=connection,
                opts=self.child(),
            )
            for app in config.org.applications
        }
        summary: list[dict[str, Any]] = []
        self.departments: dict[str, RunaiObject] = {}
        self.projects: dict[str, RunaiObject] = {}
        for department in config.org.departments:
            spec = self._unit_spec(department.name, department.quotas, department.over_quota, summary, None)
            self.departments[department.name] = RunaiObject(
                f"{name}-department-{department.name}",
                kind="departments",
                spec=spec,
                connection=connection,
                opts=pulumi.ResourceOptions.merge(keep, pulumi.ResourceOptions(depends_on=list(self.pools.values()))),
            )
            unit = self.departments[department.name]
            self._access_rules(f"{name}-access-{department.name}", "department", unit, department.access, connection)
            for project in department.projects:
                over = department.project_over_quota(project)
                spec = self._unit_spec(project.name, project.quotas, over, summary, department.name)
                spec |= {"parentId": self.departments[department.name].id, "requestedNamespace": project.namespace_name}
                self.projects[project.name] = RunaiObject(
                    f"{name}-project-{project.name}",
                    kind="projects",
                    spec=spec,
                    connection=connection,
                    opts=keep,
                )
                unit = self.projects[project.name]
                self._access_rules(f"{name}-access-{project.name}", "project", unit, project.access, connection)
        for share in config.storage.shares:
            # One data source per share, for every project of its department.
            RunaiObject(
                f"{name}-nfs-{share.department}-{share.name}",
                kind="nfs",
                spec={
                    "meta": {
                        "name": share.name,
                        "scope": "department",
                        "departmentId": self.departments[share.department].id,
                        "clusterId": self._cluster_id,
                    },
                    "spec": {
                        "server": config.storage.share_server(share),
                        "path": share.path,
                        "mountPath": share.mount_at,
                        "readOnly": share.read_only,
                    },
                },
                connection=connection,
                opts=self.child(),
            )
        for compute in config.org.compute_resources:
            RunaiObject(
                f"{name}-compute-{compute.name}",
                kind="compute",
                spec={"meta": {"name": compute.name, "scope": "tenant"}, "spec": compute_spec(compute)},
                connection=connection,
                opts=self.child(),
            )
        # Settings first: Run:ai refuses workload policies while its Policies setting is off.
        self.settings = [
            WorkloadSetting(
                f"{name}-setting-{key.value}", key=key.value, enabled=enabled, connection=connection, opts=self.child()
            )
            for key, enabled in runai.workload_settings.items()
        ]
        for policy in config.org.workload_policies:
            self._workload_policy(name, policy, connection)
        for registry in runai.registries:
            RunaiObject(
                f"{name}-registry-{registry.name}",
                kind="dockerregistry",
                spec={
                    "meta": {"name": registry.name, "scope": "cluster", "clusterId": cluster_id},
                    "spec": {"url": registry.url, "user": registry.user, "password": registry_passwords[registry.name]},
                },
                connection=connection,
                # The password sits in `spec`: all of it stays secret.
                opts=self.child(additional_secret_outputs=["spec"]),
            )
        self.register_outputs({"organisation": {"queues": summary, "priorityClasses": {}, **config.priority_summary()}})

    def _workload_policy(self, name: str, policy: WorkloadPolicyConfig, connection: pulumi.Output[str]) -> None:
        target = policy.project or policy.department or "cluster"
        meta: dict[str, Any] = {"scope": policy.scope, "name": f"{target}-{policy.workload.value}"}
        if policy.project:
            meta["projectId"] = self.projects[policy.project].id
        elif policy.department:
            meta["departmentId"] = self.departments[policy.department].id
        meta["clusterId"] = self._cluster_id
        body: dict[str, Any] = {"defaults": policy.defaults, "rules": policy.rules}
        if policy.imposed_assets:
            body["imposedAssets"] = policy.imposed_assets
        WorkloadPolicy(
            f"{name}-policy-{policy.workload.value}-{target}",
            workload=policy.workload.value,
            meta=meta,
            policy=body,
            connection=connection,
            opts=self.child(depends_on=self.settings),
        )

    def _access_rules(
        self, prefix: str, scope: str, unit: RunaiObject, accesses: list[Access], connection: pulumi.Output[str]
    ) -> None:
        """One rule per subject and role on `unit` (a department or project);
        a subject listed twice with one role gets one rule."""
        grants = {binding_name(a.role, *a.subject): a for a in accesses}
        for grant, access in grants.items():
            kind, subject = access.subject
            RunaiObject(
                f"{prefix}-{grant}",
                kind="accessrules",
                spec={
                    "subjectType": self._automation_subject if kind == "App" else kind.lower(),
                    "subjectId": subject,
                    "roleName": RUNAI_ROLES[access.role],
                    "scopeType": scope,
                    "scopeId": unit.id,
                    "clusterId": self._cluster_id,
                },
                connection=connection,
                opts=self.child(depends_on=[*self.users.values(), *self.applications.values()]),
            )

    def _unit_spec(
        self,
        unit: str,
        quotas: dict[str, PoolQuota],
        over_quota: bool,
        summary: list[dict[str, Any]],
        parent: str | None,
    ) -> dict[str, Any]:
        items = []
        for pool, quota in quotas.items():
            amounts = quota.scheduler_amounts(over_quota, UNMANAGED_QUOTA)
            items.append(quota_item(pool, self.pools[pool].id, amounts))
            # What the policy pack reads: the same shape the KAI path publishes.
            summary.append(
                {"name": unit, "parent": parent, "pool": pool, "resources": amounts, "unmanaged": quota.unmanaged()}
            )
        ordered = sorted(quotas, key=lambda pool: quotas[pool].order)
        return {
            "name": unit,
            "clusterId": self._cluster_id,
            "resources": items,
            ORDER_FIELD: ordered,
        }
