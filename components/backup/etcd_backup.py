"""The backup CronJob: on a control-plane node, the agent (components/backup/
agent.py, mounted from a ConfigMap) snapshots etcd, packs the PKI, adds
Run:ai's state when the stack installs Run:ai (chart values and RunaiConfig
read as the `runai-cluster-backup` service account, a dump of an external
control-plane database), uploads it all with a manifest and prunes old
backups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.managed import MANAGED_BY, Component
from stacks.backup import BackupConfig
from stacks.model import StackConfig
from stacks.runai import ExternalPostgres
from stacks.scheduling import SchedulerKind

AGENT = Path(__file__).with_name("agent.py")
PKI = "/etc/kubernetes/pki"
CONTROL_PLANE = "node-role.kubernetes.io/control-plane"
SERVICE_ACCOUNT = "runai-cluster-backup"
POSTGRES_SECRET = "runai-cluster-backup-postgres"


@dataclass(frozen=True)
class RunaiBackup:
    """What of Run:ai a backup holds: Helm releases ("namespace/release"), the
    RunaiConfig ("namespace/name"), the external database to dump."""

    releases: list[str]
    runai_config: str | None
    postgres: ExternalPostgres | None

    @property
    def namespaces(self) -> list[str]:
        found = [entry.split("/")[0] for entry in [*self.releases, *filter(None, [self.runai_config])]]
        return sorted(set(found))


def runai_backup(config: StackConfig) -> RunaiBackup | None:
    """Run:ai's state to back up, when this stack installs Run:ai."""
    runai = config.runai
    if config.scheduler.kind is not SchedulerKind.RUNAI:
        return None
    releases = []
    if runai.control_plane.install:
        releases.append("runai-backend/runai-backend")
    if runai.cluster.install:
        releases.append("runai/runai-cluster")
    if not releases:
        return None
    postgres = runai.control_plane.external_postgres if runai.control_plane.install else None
    return RunaiBackup(releases, "runai/runai" if runai.cluster.install else None, postgres)


def agent_env(backup: BackupConfig, runai: RunaiBackup | None = None) -> list[dict[str, str]]:
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
    if runai:
        env["HELM_RELEASES"] = ",".join(runai.releases)
        if runai.runai_config:
            env["RUNAICONFIG"] = runai.runai_config
        if runai.postgres:
            postgres = runai.postgres
            env |= {
                "PG_HOST": postgres.host,
                "PG_PORT": str(postgres.port),
                "PG_USER": postgres.username,
                "PG_DATABASE": postgres.database,
            }
    return [{"name": name, "value": value} for name, value in env.items()]


def pod_spec(backup: BackupConfig, credentials: list[str], runai: RunaiBackup | None = None) -> dict[str, Any]:
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
        "env": agent_env(backup, runai),
        "volumeMounts": mounts,
    }
    if credentials:
        container["envFrom"] = [{"secretRef": {"name": name}} for name in credentials]
    return {
        # Reads Run:ai's releases and RunaiConfig (components/backup/runai_access.py).
        "serviceAccountName": SERVICE_ACCOUNT,
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
        runai: RunaiBackup | None = None,
        postgres_password: pulumi.Output[str] | None = None,
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
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata={**metadata, "name": SERVICE_ACCOUNT}, opts=child
        )
        after: list[pulumi.Resource] = [agent, account]
        secrets: dict[str, dict[str, pulumi.Output[str]]] = {}
        if backup.s3:
            assert access_key_id is not None and secret_access_key is not None  # checked by load_stack
            secrets["runai-cluster-backup-s3"] = {
                "AWS_ACCESS_KEY_ID": access_key_id,
                "AWS_SECRET_ACCESS_KEY": secret_access_key,
            }
        if runai and runai.postgres:
            assert postgres_password is not None  # checked by load_stack
            secrets[POSTGRES_SECRET] = {"PGPASSWORD": postgres_password}
        for secret, data in secrets.items():
            after.append(
                k8s.core.v1.Secret(
                    f"{name}-{secret.removeprefix('runai-cluster-backup-')}",
                    metadata={**metadata, "name": secret},
                    string_data=data,
                    opts=child,
                )
            )
        credentials = list(secrets)
        self.cron_job = k8s.batch.v1.CronJob(
            f"{name}-etcd",
            metadata={**metadata, "name": "runai-cluster-etcd-backup"},
            spec={
                "schedule": backup.schedule,
                # A slow upload is never overlapped by the next one.
                "concurrencyPolicy": "Forbid",
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {"backoffLimit": 2, "template": {"spec": pod_spec(backup, credentials, runai)}}
                },
            },
            opts=self.child(depends_on=after),
        )
        self.register_outputs({})
