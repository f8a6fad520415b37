"""What the backup agent may read of Run:ai: in each namespace holding a
release it backs up, Helm's release Secrets (`helm get values` reads the
same), and the RunaiConfig. Read-only; the RoleBindings name the agent's
service account in the backup namespace."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.backup.etcd_backup import SERVICE_ACCOUNT, RunaiBackup
from components.managed import MANAGED_BY, Component

ROLE = "runai-cluster-backup-reader"


class RunaiBackupAccess(Component):
    def __init__(
        self,
        name: str,
        runai: RunaiBackup,
        backup_namespace: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:backup:RunaiBackupAccess", name, opts)
        rules = [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
        for namespace in runai.namespaces:
            namespace_rules = list(rules)
            if runai.runai_config and runai.runai_config.startswith(f"{namespace}/"):
                namespace_rules.append({"apiGroups": ["run.ai"], "resources": ["runaiconfigs"], "verbs": ["get"]})
            metadata = {"name": ROLE, "namespace": namespace, "labels": MANAGED_BY}
            role = k8s.rbac.v1.Role(f"{name}-{namespace}", metadata=metadata, rules=namespace_rules, opts=self.child())
            k8s.rbac.v1.RoleBinding(
                f"{name}-{namespace}",
                metadata=metadata,
                role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
                subjects=[{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": backup_namespace}],
                opts=self.child(depends_on=[role]),
            )
        self.register_outputs({})
