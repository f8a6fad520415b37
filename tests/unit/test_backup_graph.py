"""The backup layer under mocks, and its settings refused when wrong."""

from __future__ import annotations

from typing import Any

import pytest

from components.backup.etcd_backup import AGENT
from stacks.load import StackConfigError, check_secrets, parse_stack
from tests.support.settings import fixture
from tools.mocked_program import DEFAULT_SECRETS, Recorded, run_program

CRON_JOB = "kubernetes:batch/v1:CronJob"
ACCESS_KEY, SECRET_KEY = "AKIA-backup-key-5e1f", "backup-secret-value-3c9a"


def pod(recorded: Recorded) -> dict[str, Any]:
    [cron] = recorded.of_type(CRON_JOB)
    spec: dict[str, Any] = cron.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return spec


def env(spec: dict[str, Any]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in spec["containers"][0]["env"]}


def test_prod_backs_up_etcd_to_nfs_on_a_control_plane(prod: Recorded) -> None:
    [cron] = prod.of_type(CRON_JOB)
    assert cron.inputs["spec"]["schedule"] == "0 */6 * * *"
    assert cron.inputs["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod(prod)
    assert spec["hostNetwork"] is True
    assert spec["nodeSelector"] == {"node-role.kubernetes.io/control-plane": ""}
    assert spec["containers"][0]["image"] == "registry.example.com/platform/runai-cluster-backup:0.1.0"
    assert spec["containers"][0]["command"] == ["python", "/opt/backup/agent.py", "take"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert volumes["target"]["nfs"] == {"server": "198.51.100.20", "path": "/exports/cluster-backups/gpu-prod"}
    assert volumes["pki"]["hostPath"]["path"] == "/etc/kubernetes/pki"
    assert env(spec)["BACKUP_DIR"] == "/backup" and env(spec)["KEEP"] == "28"
    [agent] = [r for r in prod.of_type("kubernetes:core/v1:ConfigMap") if r.name.endswith("-backup-agent")]
    assert agent.inputs["data"]["agent.py"] == AGENT.read_text()


def s3_settings() -> dict[str, Any]:
    settings = fixture("production")
    backup = settings["backup"]
    del backup["nfs"]
    backup["s3"] = {"endpoint": "https://s3.example.com", "bucket": "gpu-backups", "prefix": "prod"}
    return settings


def test_s3_credentials_stay_secret() -> None:
    secrets = DEFAULT_SECRETS | {"backupAccessKeyId": ACCESS_KEY, "backupSecretAccessKey": SECRET_KEY}
    recorded, _ = run_program(s3_settings(), secrets=secrets, stack="prod")
    [secret] = recorded.of_type("kubernetes:core/v1:Secret", under="EtcdBackup")
    assert secret.inputs["stringData"] == {"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
    assert "stringData" in secret.secret_paths
    spec = pod(recorded)
    assert spec["containers"][0]["envFrom"] == [{"secretRef": {"name": "runai-cluster-backup-s3"}}]
    assert env(spec)["S3_ENDPOINT"] == "https://s3.example.com" and env(spec)["S3_PREFIX"] == "prod"
    assert not any(SECRET_KEY in str(r.inputs) for r in recorded.resources.values() if r is not secret)


def test_s3_needs_its_credentials_as_secrets() -> None:
    config = parse_stack(s3_settings())
    with pytest.raises(StackConfigError) as caught:
        check_secrets(config, present={"sshPrivateKey"}, secret={"sshPrivateKey"})
    assert "backupAccessKeyId: required for backups to S3; set it with `pulumi config set --secret" in str(caught.value)
    assert "backupSecretAccessKey: required for backups to S3" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"nfs": None}, "backup: enabled: give exactly one target, s3 or nfs"),
        ({"s3": {"bucket": "b-1x"}}, "backup: enabled: give exactly one target, s3 or nfs"),
        ({"image": None}, "backup: image: required when enabled (build components/backup/Dockerfile"),
        ({"image": "registry.example.com/backup:latest"}, "is not pinned; give a version tag or a digest"),
        ({"schedule": "every hour"}, "backup.schedule: 'every hour': a cron schedule has five fields"),
        ({"nfs": {"server": "nfs.example.com", "path": "exports"}}, "backup.nfs.path"),
        ({"nfs": None, "s3": {"bucket": "Bad_Bucket"}}, "backup.s3.bucket: 'Bad_Bucket': bucket names are 3-63"),
        ({"keep": 0}, "backup.keep"),
    ],
)
def test_bad_backup_settings(change: dict[str, Any], expected: str) -> None:
    settings = fixture("production")
    for key, value in change.items():
        if value is None:
            settings["backup"].pop(key, None)
        else:
            settings["backup"][key] = value
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    assert expected in str(caught.value)


def test_no_backup_layer_unless_enabled(dev: Recorded) -> None:
    assert dev.of_type(CRON_JOB) == []


def test_prod_backups_hold_runai_state_read_by_its_own_account(prod: Recorded) -> None:
    spec = pod(prod)
    settings = env(spec)
    assert settings["HELM_RELEASES"] == "runai-backend/runai-backend,runai/runai-cluster"
    assert settings["RUNAICONFIG"] == "runai/runai"
    assert "PG_HOST" not in settings  # prod's database is the bundled one: its volume is the backup
    assert spec["serviceAccountName"] == "runai-cluster-backup"
    roles = {
        r.inputs["metadata"]["namespace"]: r.inputs["rules"]
        for r in prod.of_type("kubernetes:rbac.authorization.k8s.io/v1:Role")
    }
    assert roles["runai-backend"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}]
    assert {"apiGroups": ["run.ai"], "resources": ["runaiconfigs"], "verbs": ["get"]} in roles["runai"]
    for binding in prod.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding"):
        if binding.inputs["metadata"]["name"] == "runai-cluster-backup-reader":
            assert binding.inputs["subjects"] == [
                {"kind": "ServiceAccount", "name": "runai-cluster-backup", "namespace": "kube-system"}
            ]


def test_an_external_database_is_dumped_with_its_password_kept_secret() -> None:
    settings = fixture("production")
    settings["runai"]["controlPlane"]["externalPostgres"] = {"host": "db.example.com", "database": "backend"}
    recorded, _ = run_program(
        settings, stack="prod", secrets={**DEFAULT_SECRETS, "runaiPostgresPassword": "pg-pass-77a1"}
    )
    spec = pod(recorded)
    assert {k: v for k, v in env(spec).items() if k.startswith("PG_")} == {
        "PG_HOST": "db.example.com",
        "PG_PORT": "5432",
        "PG_USER": "runai",
        "PG_DATABASE": "backend",
    }
    assert {"secretRef": {"name": "runai-cluster-backup-postgres"}} in spec["containers"][0]["envFrom"]
    [secret] = [
        s
        for s in recorded.of_type("kubernetes:core/v1:Secret")
        if s.inputs["metadata"]["name"] == "runai-cluster-backup-postgres"
    ]
    assert secret.inputs["stringData"] == {"PGPASSWORD": "pg-pass-77a1"}
    assert "stringData" in secret.secret_paths
    assert "pg-pass-77a1" not in str(spec)
