"""The `backup` section: etcd snapshots and the cluster's PKI, on a schedule,
to S3-compatible storage or an NFS export."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from stacks.base import Section, check_host

# Five cron fields; Kubernetes CronJobs take no seconds field.
_CRON = re.compile(r"^(\S+\s+){4}\S+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _cron(value: str) -> str:
    if not _CRON.match(value.strip()):
        raise ValueError(f"{value!r}: a cron schedule has five fields, e.g. '0 */6 * * *'")
    return value


def _bucket(value: str) -> str:
    if not _BUCKET.match(value):
        raise ValueError(f"{value!r}: bucket names are 3-63 lowercase letters, digits, '.' or '-'")
    return value


class S3Target(Section):
    endpoint: str | None = Field(None, pattern=r"^https?://")
    """None: AWS itself; set it for MinIO, Ceph RGW and other S3-compatible stores."""
    bucket: Annotated[str, AfterValidator(_bucket)]
    prefix: str = ""
    region: str = "us-east-1"


class NfsTarget(Section):
    server: Annotated[str, AfterValidator(check_host)]
    path: str = Field(pattern=r"^/", description="absolute export path")


class BackupConfig(Section):
    """Credentials for S3 are the backupAccessKeyId and backupSecretAccessKey secrets."""

    enabled: bool = False
    """back up etcd and `/etc/kubernetes/pki` (required in production by the policy pack)"""
    schedule: Annotated[str, AfterValidator(_cron)] = "0 */6 * * *"
    """cron schedule of the CronJob"""
    # Python 3.11 with boto3 (components/backup/Dockerfile builds one); mirror
    # it for air-gapped sites. Required when enabled.
    image: str | None = None
    """Python 3.11 with boto3: build `components/backup/Dockerfile`, push it to your registry (mirror it when
    air-gapped); a tag or digest, never `latest` (default: none, required when enabled)"""
    s3: S3Target | None = None
    """`{endpoint (none for AWS; set it for MinIO, Ceph RGW, ...), bucket, prefix, region (us-east-1)}`; credentials
    are the `backupAccessKeyId` and `backupSecretAccessKey` secrets"""
    nfs: NfsTarget | None = None
    """`{server, path}` (absolute export path); exactly one of `s3` or `nfs`"""
    keep: int = Field(14, ge=1)
    """how many complete backups to keep at most"""
    max_age_days: int = Field(30, ge=1)
    """complete backups older than this are pruned too; the newest complete backup never is"""
    namespace: str = "kube-system"
    """where the CronJob runs"""

    @model_validator(mode="after")
    def _complete(self) -> BackupConfig:
        if not self.enabled:
            return self
        if (self.s3 is None) == (self.nfs is None):
            raise ValueError("enabled: give exactly one target, s3 or nfs")
        if not self.image:
            raise ValueError("image: required when enabled (build components/backup/Dockerfile and push it)")
        last = self.image.rsplit("/", 1)[-1]
        if "@sha256:" not in self.image and (":" not in last or last.endswith(":latest")):
            raise ValueError(f"image: {self.image!r} is not pinned; give a version tag or a digest")
        return self
