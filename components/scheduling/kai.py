"""The open-source scheduling path: KAI Scheduler, its Queues for departments
and projects, PriorityClasses, and a namespace per project with its access."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.charts import chart_args
from components.managed import MANAGED_BY, Component
from components.scheduling.access import binding_name, cluster_role_for, cluster_role_rules
from components.scheduling.admission import POD_POLICY, PODGROUP_POLICY, pod_policy, podgroup_policy
from stacks.model import StackConfig
from stacks.org import Access, Department, PoolQuota, Project
from stacks.scheduling import NON_PREEMPTIBLE

QUEUE_API = "scheduling.run.ai/v2"
NODE_SELECTOR_ANNOTATION = "scheduler.alpha.kubernetes.io/node-selector"
# CPU or memory the stack does not manage: KAI reads a quota of -1 as
# unlimited (0 would refuse every non-preemptible pod asking for any).
UNMANAGED_QUOTA = -1


def _only_pool(quotas: dict[str, PoolQuota]) -> tuple[str | None, PoolQuota | None]:
    # The stack model allows one pool per queue on this path.
    return next(iter(quotas.items()), (None, None))


def queue_spec(
    display_name: str, quotas: dict[str, PoolQuota], over_quota: bool, priority: int, parent: str | None
) -> dict[str, Any]:
    _, quota = _only_pool(quotas)
    spec: dict[str, Any] = {
        "displayName": display_name,
        "priority": priority,
        # The docs disagree on defaults, so every field is written.
        "resources": (quota or PoolQuota()).scheduler_amounts(over_quota, UNMANAGED_QUOTA),
    }
    if parent:
        spec["parentQueue"] = parent
    return spec


class KaiScheduling(Component):
    """Departments become parent Queues and projects leaf Queues; each project
    gets a namespace whose node selector keeps it in its node pool, and
    RoleBindings for its users and groups."""

    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:scheduling:KaiScheduling", name, opts)
        self._config = config
        self._name = name
        kai = config.scheduler.kai
        child = self.child()
        # Organisation objects outlive a mistaken rename in production.
        self._keep = self.child(protect=config.is_prod)
        after_chart: list[pulumi.Resource] = []
        if kai.install_chart:
            after_chart.append(
                k8s.helm.v3.Release(
                    f"{name}-chart",
                    name="kai-scheduler",
                    namespace=kai.namespace,
                    create_namespace=True,
                    values={
                        "global": {"gpuSharing": kai.gpu_sharing},
                        # Queues and PriorityClasses come from the stack, not the chart's defaults.
                        "defaultQueue": {"createDefaultQueue": False},
                        "defaultPriorityClasses": {"enabled": False},
                    },
                    **chart_args(kai.chart),
                    opts=child,
                )
            )
        self.priority_classes = {
            class_name: k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{class_name}",
                metadata={"name": class_name, "labels": MANAGED_BY},
                value=value,
                global_default=class_name == kai.global_default_priority_class,
                description=(
                    "KAI: non-preemptible, runs within quota only"
                    if value >= NON_PREEMPTIBLE
                    else "KAI: preemptible, may run over quota"
                ),
                opts=child,
            )
            for class_name, value in kai.priority_classes.items()
        }
        self.cluster_roles = {
            role: k8s.rbac.v1.ClusterRole(
                f"{name}-role-{role}",
                metadata={"name": f"runai-cluster-{role}", "labels": MANAGED_BY},
                rules=cluster_role_rules(role),
                opts=child,
            )
            for role in ("researcher", "viewer")
        }
        for policy, spec in (
            (POD_POLICY, pod_policy(kai.queue_label, kai.scheduler_name)),
            (PODGROUP_POLICY, podgroup_policy(kai.queue_label)),
        ):
            self._admission_policy(policy, spec)
        self.queues: dict[str, k8s.apiextensions.CustomResource] = {}
        self._summary: list[dict[str, Any]] = []
        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        # The chart brings the Queue CRD.
        after_crd = pulumi.ResourceOptions.merge(self._keep, pulumi.ResourceOptions(depends_on=after_chart))
        for department in config.org.departments:
            queue = self._queue(department.name, department.quotas, department.over_quota, department.priority, None)
            self.queues[department.name] = self._register_queue(queue, after_crd)
            for project in department.projects:
                self._project(department, project, self.queues[department.name])
        # The organisation as the policy pack judges it: component outputs are
        # known during preview, the Kubernetes objects' properties may not be.
        self.register_outputs(
            {
                "organisation": {
                    "queues": self._summary,
                    "priorityClasses": {
                        class_name: {"value": value, "globalDefault": class_name == kai.global_default_priority_class}
                        for class_name, value in kai.priority_classes.items()
                    },
                    **config.priority_summary(),
                }
            }
        )

    def _admission_policy(self, policy: str, spec: dict[str, Any]) -> None:
        created = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{self._name}-{policy}",
            metadata={"name": policy, "labels": MANAGED_BY},
            spec=spec,
            opts=self.child(),
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{self._name}-{policy}-binding",
            metadata={"name": policy, "labels": MANAGED_BY},
            spec={"policyName": policy, "validationActions": ["Deny"]},
            opts=self.child(depends_on=[created]),
        )

    def _queue(
        self, queue: str, quotas: dict[str, PoolQuota], over_quota: bool, priority: int, parent: str | None
    ) -> dict[str, Any]:
        pool, quota = _only_pool(quotas)
        labels = dict(MANAGED_BY)
        if pool:
            labels[self._config.labels.node_pool] = pool
        return {
            "name": queue,
            "metadata": {"name": queue, "labels": labels},
            "spec": queue_spec(queue, quotas, over_quota, priority, parent),
            "unmanaged": (quota or PoolQuota()).unmanaged(),
        }

    def _register_queue(self, queue: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
        spec = queue["spec"]
        self._summary.append(
            {
                "name": queue["name"],
                "parent": spec.get("parentQueue"),
                "pool": queue["metadata"]["labels"].get(self._config.labels.node_pool),
                "resources": spec["resources"],
                "unmanaged": queue["unmanaged"],
            }
        )
        return k8s.apiextensions.CustomResource(
            f"{self._name}-queue-{queue['name']}",
            api_version=QUEUE_API,
            kind="Queue",
            metadata=queue["metadata"],
            spec=queue["spec"],
            opts=opts,
        )

    def _project(self, department: Department, project: Project, parent: pulumi.Resource) -> None:
        config = self._config
        over_quota = department.project_over_quota(project)
        leaf = self._queue(project.name, project.quotas, over_quota, project.priority, department.name)
        self.queues[project.name] = self._register_queue(
            leaf, pulumi.ResourceOptions.merge(self._keep, pulumi.ResourceOptions(depends_on=[parent]))
        )
        pool, _ = _only_pool(project.quotas) if project.quotas else _only_pool(department.quotas)
        annotations = {NODE_SELECTOR_ANNOTATION: f"{config.labels.node_pool}={pool}"} if pool else {}
        labels = {**MANAGED_BY, config.scheduler.kai.queue_label: project.name}
        namespace = k8s.core.v1.Namespace(
            f"{self._name}-ns-{project.name}",
            metadata={"name": project.namespace_name, "labels": labels, "annotations": annotations},
            opts=self._keep,
        )
        self.namespaces[project.name] = namespace
        # Department-wide roles reach into each of its projects; a subject
        # listed on both gets one binding per role.
        grants = {binding_name(a.role, *a.subject): a for a in [*department.access, *project.access]}
        for name, access in grants.items():
            self._binding(project, namespace, name, access)

    def _binding(self, project: Project, namespace: k8s.core.v1.Namespace, name: str, access: Access) -> None:
        kind, subject = access.subject
        oidc = self._config.scheduler.oidc
        if oidc:  # the API server sees IdP identities with these prefixes
            subject = (oidc.username_prefix if kind == "User" else oidc.groups_prefix) + subject
        role = cluster_role_for(access.role)
        k8s.rbac.v1.RoleBinding(
            f"{self._name}-{project.name}-{name}",
            metadata={"name": name, "namespace": namespace.metadata["name"], "labels": MANAGED_BY},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"runai-cluster-{role}"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": subject}],
            opts=self.child(depends_on=[self.cluster_roles[role]]),
        )
