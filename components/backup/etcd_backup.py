"""The backup CronJob: on a control-plane node, the agent (components/backup/
agent.py, mounted from a ConfigMap) snapshots etcd, packs the PKI, uploads
both with a manifest and prunes old backups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.managed import MANAGED_BY, Component
from stacks.backup import BackupConfig

AGENT = Path(__file__).with_name("agent.py")
PKI = "/etc/kubernetes/pki"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"


def agent_env(backup: BackupConfig) -> list[dict[str, str]]:
    """What the agent reads (kubeadm's etcd listens on 127.0.0.1 with client
    certificates signed by its own CA)."""
    env = {
        "ETCD_ENDPOINT": "https://127.0.0.1:2379",
        "ETCD_CA": f"{PKI}/etcd/ca.crt",
        "ETCD_CERT": f"{PKI}/etcd/healthcheck-client.crt",
        "ETCD_KEY": f"{PKI}/etcd/healthcheck-client.key",
        "PKI_DIR": PKI,
        "KEEP": str(backup.keep),
        "MAX_AGE_DAYS": str(backup.max_age_days),
    }
    if backup.s3:
        env |= {"S3_BUCKET": backup.s3.bucket, "S3_PREFIX": backup.s3.prefix, "S3_REGION": backup.s3.region}
        if backup.s3.endpoint:
            env["S3_ENDPOINT"] = backup.s3.endpoint
    else:
        env["BACKUP_DIR"] = "/backup"
    return [{"name": name, "value": value} for name, value in env.items()]


def pod_spec(backup: BackupConfig, credentials: str | None) -> dict[str, Any]:
    mounts = [
        {"name": "pki", "mountPath": PKI, "readOnly": True},
        {"name": "agent", "mountPath": "/opt/backup", "readOnly": True},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "pki", "hostPath": {"path": PKI, "type": "Directory"}},
        {"name": "agent", "configMap": {"name": "runai-cluster-backup-agent"}},
    ]
    if backup.nfs:
        mounts.append({"name": "target", "mountPath": "/backup"})
        volumes.append({"name": "target", "nfs": {"server": backup.nfs.server, "path": backup.nfs.path}})
    container: dict[str, Any] = {
        "name": "backup",
        "image": backup.image,
        "command": ["python", "/opt/backup/agent.py", "take"],
        "env": agent_env(backup),
        "volumeMounts": mounts,
    }
    if credentials:
        container["envFrom"] = [{"secretRef": {"name": credentials}}]
    return {
        # etcd answers on the node's loopback only.
        "hostNetwork": True,
        "restartPolicy": "Never",
        "nodeSelector": {CONTROL_PLANE: ""},
        "tolerations": [{"key": CONTROL_PLANE, "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [container],
        "volumes": volumes,
    }


class EtcdBackup(Component):
    def __init__(
        self,
        name: str,
        backup: BackupConfig,
        access_key_id: pulumi.Output[str] | None,
        secret_access_key: pulumi.Output[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:backup:EtcdBackup", name, opts)
        child = self.child()
        metadata = {"namespace": backup.namespace, "labels": MANAGED_BY}
        agent = k8s.core.v1.ConfigMap(
            f"{name}-agent",
            metadata={**metadata, "name": "runai-cluster-backup-agent"},
            data={"agent.py": AGENT.read_text()},
            opts=child,
        )
        after: list[pulumi.Resource] = [agent]
        credentials = None
        if backup.s3:
            assert access_key_id is not None and secret_access_key is not None  # checked by load_stack
            credentials = "runai-cluster-backup-s3"
            after.append(
                k8s.core.v1.Secret(
                    f"{name}-s3",
                    metadata={**metadata, "name": credentials},
                    string_data={"AWS_ACCESS_KEY_ID": access_key_id, "AWS_SECRET_ACCESS_KEY": secret_access_key},
                    opts=child,
                )
            )
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-etcd",
            metadata={**metadata, "name": "runai-cluster-etcd-backup"},
            spec={
                "schedule": backup.schedule,
                # A slow upload is never overlapped by the next one.
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {"spec": {"backoffLimit": 2, "template": {"spec": pod_spec(backup, credentials)}}},
            },
            opts=self.child(depends_on=after),
        )
        self.register_outputs({})
