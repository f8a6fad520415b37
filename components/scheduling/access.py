"""Kubernetes RBAC for the organisation's roles, as Run:ai's roles imply them
(researcher: submit and manage workloads; viewer: read)."""

from __future__ import annotations

import hashlib

from stacks.org import AccessRole

# Workload kinds a researcher submits: plain pods and jobs, KAI's PodGroups,
# the Training and MPI operators' jobs, Knative services for inference.
_WORKLOADS = [
    ("", ["pods", "pods/log", "pods/exec", "pods/portforward", "services", "configmaps", "persistentvolumeclaims"]),
    ("apps", ["deployments", "statefulsets", "replicasets"]),
    ("batch", ["jobs", "cronjobs"]),
    ("scheduling.run.ai", ["podgroups"]),
    ("kubeflow.org", ["pytorchjobs", "tfjobs", "xgboostjobs", "mpijobs"]),
    ("serving.knative.dev", ["services"]),
]
_READ = ["get", "list", "watch"]
_WRITE = [*_READ, "create", "update", "patch", "delete"]
# Viewers read workloads but neither secrets nor a shell in a pod.
_NOT_FOR_VIEWERS = {"pods/exec", "pods/portforward"}


def cluster_role_rules(role: str) -> list[dict[str, object]]:
    """Rules of our ClusterRole `role` ("researcher" or "viewer")."""
    rules: list[dict[str, object]] = []
    for group, resources in _WORKLOADS:
        if role == "viewer":
            resources = [r for r in resources if r not in _NOT_FOR_VIEWERS]
        rules.append({"apiGroups": [group], "resources": resources, "verbs": _WRITE if role != "viewer" else _READ})
    rules.append({"apiGroups": [""], "resources": ["events"], "verbs": _READ})
    if role != "viewer":
        rules.append({"apiGroups": [""], "resources": ["secrets"], "verbs": _WRITE})
    return rules


def cluster_role_for(role: AccessRole) -> str:
    """Which of our two ClusterRoles an organisation role binds."""
    return "viewer" if role is AccessRole.VIEWER else "researcher"


def binding_name(role: AccessRole, kind: str, subject: str) -> str:
    """A RoleBinding name for any subject (emails hold characters names may not)."""
    digest = hashlib.sha256(f"{kind}:{subject}".encode()).hexdigest()[:10]
    return f"{role.value}-{kind.lower()}-{digest}"
