"""The backup agent against a real (moto) S3 endpoint over HTTP and a
directory: upload, retention, checksums, interrupted uploads, restore
selection, and the failures that must be loud."""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pytest

from components.backup.agent import (
    MANIFEST,
    BackupError,
    DirectoryStore,
    S3Store,
    backups,
    database_dump,
    fetch,
    prune,
    release_values,
    runai_state,
    store_from_env,
    take,
)
from tests.support.s3 import use_test_credentials
from tools import backup as backup_cli

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
FILES = {"etcd.snapshot": b"snapshot-bytes" * 1000, "pki.tar.gz": b"pki-bytes"}


@pytest.fixture
def client(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    use_test_credentials(monkeypatch)
    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def s3(client: Any, request: pytest.FixtureRequest) -> S3Store:
    bucket = request.node.name.replace("_", "-")[:60].strip("-")
    client.create_bucket(Bucket=bucket)
    return S3Store(client, bucket, "gpu-prod/etcd")


def at(hours: float) -> dt.datetime:
    return NOW + dt.timedelta(hours=hours)


@pytest.mark.process
def test_a_backup_round_trip_with_its_manifest_last(s3: S3Store, tmp_path: Path) -> None:
    backup = take(s3, FILES, NOW)
    assert backup.id == "20261123T120000Z"
    keys = sorted(s3.names())
    assert keys == [f"{backup.id}/{MANIFEST}", f"{backup.id}/etcd.snapshot", f"{backup.id}/pki.tar.gz"]
    manifest = json.loads(s3.get(f"{backup.id}/{MANIFEST}"))
    assert manifest["files"]["pki.tar.gz"]["size"] == len(FILES["pki.tar.gz"])
    [listed] = backups(s3)
    paths = fetch(s3, listed, tmp_path / "restore")
    assert {name: path.read_bytes() for name, path in paths.items()} == FILES
    # Under the prefix, where a team's bucket keeps it.
    objects = s3.client.list_objects_v2(Bucket=s3.bucket)["Contents"]
    assert all(o["Key"].startswith("gpu-prod/etcd/") for o in objects)


class FailingStore:
    """A store whose connection drops after `allowed` uploads."""

    def __init__(self, inner: S3Store, allowed: int) -> None:
        self.inner, self.allowed = inner, allowed

    def put(self, key: str, data: bytes) -> None:
        if self.allowed == 0:
            raise ConnectionResetError("connection reset by peer")
        self.allowed -= 1
        self.inner.put(key, data)

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def names(self) -> Iterator[str]:
        return self.inner.names()

    def delete(self, keys: list[str]) -> None:
        self.inner.delete(keys)


@pytest.mark.process
def test_an_interrupted_upload_is_never_picked_and_never_replaces(s3: S3Store) -> None:
    good = take(s3, FILES, NOW)
    with pytest.raises(BackupError, match="backup 20261123T130000Z failed and was not recorded: connection reset"):
        take(FailingStore(s3, allowed=1), FILES, at(1))
    # Its first object was removed, no manifest was written: restore still picks the good one.
    assert not any(key.startswith("20261123T130000Z") for key in s3.names())
    assert [b.id for b in backups(s3)] == [good.id]
    # A manifest lost mid-way leaves the backup incomplete, not chosen.
    failing = FailingStore(s3, allowed=2)
    failing.delete = lambda keys: None  # type: ignore[method-assign]  # and the clean-up fails too
    with pytest.raises(BackupError):
        take(failing, FILES, at(2))
    assert [b.id for b in backups(s3)] == [good.id]
    # Keeping one backup never deletes the only complete one.
    assert prune(s3, keep=1, max_age=dt.timedelta(days=1), now=at(3)) == []
    assert [b.id for b in backups(s3)] == [good.id]


@pytest.mark.process
def test_a_corrupt_object_is_refused(s3: S3Store, tmp_path: Path) -> None:
    backup = take(s3, FILES, NOW)
    s3.put(f"{backup.id}/etcd.snapshot", b"tampered")
    with pytest.raises(BackupError, match=r"etcd\.snapshot does not match its manifest"):
        fetch(s3, backups(s3)[0], tmp_path)


@pytest.mark.process
def test_retention_by_count_and_age(s3: S3Store) -> None:
    for hours in range(0, 24 * 10, 24):  # ten daily backups
        take(s3, FILES, at(hours))
    now = at(24 * 9 + 1)
    deleted = prune(s3, keep=5, max_age=dt.timedelta(days=30), now=now)
    assert len(deleted) == 5 and [b.created.day for b in backups(s3)] == [2, 1, 30, 29, 28]
    deleted = prune(s3, keep=5, max_age=dt.timedelta(days=3), now=now)
    assert [b.created.day for b in backups(s3)] == [2, 1, 30]
    # Everything too old still leaves the newest.
    prune(s3, keep=5, max_age=dt.timedelta(hours=1), now=at(24 * 100))
    assert [b.created.day for b in backups(s3)] == [2]


@pytest.mark.process
def test_thousands_of_objects(s3: S3Store) -> None:
    """Listing pages past 1000 keys and deleting past the 1000-key batch limit."""
    for index in range(1100):
        s3.put(f"20261101T{index // 60:02d}{index % 60:02d}00Z/part", b"x")  # interrupted uploads
    take(s3, FILES, NOW)
    assert len(list(s3.names())) == 1103
    deleted = prune(s3, keep=3, max_age=dt.timedelta(days=30), now=NOW)
    assert len(deleted) == 1100
    assert len(list(s3.names())) == 3


@pytest.mark.process
def test_a_missing_bucket_fails_loudly(client: Any) -> None:
    with pytest.raises(BackupError, match="NoSuchBucket"):
        take(S3Store(client, "no-such-bucket"), FILES, NOW)


def test_an_unreachable_endpoint_fails_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    use_test_credentials(monkeypatch)
    env = {"S3_ENDPOINT": "http://127.0.0.1:9", "S3_BUCKET": "b"}
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        list(store_from_env(env).names())


def test_a_directory_store_for_nfs(tmp_path: Path) -> None:
    store = DirectoryStore(tmp_path / "nfs")
    first = take(store, FILES, NOW)
    take(store, FILES, at(24))
    (tmp_path / "nfs" / "20261120T000000Z").mkdir()
    (tmp_path / "nfs" / "20261120T000000Z" / "etcd.snapshot").write_bytes(b"half")  # interrupted
    (tmp_path / "nfs" / "20261125T000000Z" / "x.partial").parent.mkdir()
    (tmp_path / "nfs" / "20261125T000000Z" / "x.partial").write_bytes(b"in flight")
    assert [b.id for b in backups(store)] == ["20261124T120000Z", first.id]
    assert prune(store, keep=1, max_age=dt.timedelta(days=30), now=at(25)) == ["20261120T000000Z", first.id]
    assert sorted(p.name for p in (tmp_path / "nfs").iterdir()) == ["20261124T120000Z", "20261125T000000Z"]
    nfs = store_from_env({"BACKUP_DIR": str(tmp_path / "nfs")})
    assert [b.id for b in backups(nfs)] == ["20261124T120000Z"]


# --- Run:ai's state ------------------------------------------------------------


def helm_secret(release: str, version: int, status: str, values: dict[str, Any]) -> dict[str, Any]:
    """A Helm 3 release Secret as the API returns it."""
    body = json.dumps({"name": release, "version": version, "config": values, "info": {"status": status}})
    helm_encoded = base64.b64encode(gzip.compress(body.encode()))
    return {
        "metadata": {"labels": {"owner": "helm", "name": release, "status": status, "version": str(version)}},
        "data": {"release": base64.b64encode(helm_encoded).decode()},
    }


def test_values_come_from_the_newest_deployed_revision() -> None:
    secrets = [
        helm_secret("runai-backend", 1, "superseded", {"global": {"domain": "old.example.com"}}),
        helm_secret("runai-backend", 3, "deployed", {"global": {"domain": "runai.example.com"}}),
        helm_secret("runai-backend", 4, "failed", {"global": {"domain": "broken.example.com"}}),
    ]
    assert release_values(secrets) == {"global": {"domain": "runai.example.com"}}
    assert release_values([helm_secret("runai-backend", 1, "pending-install", {})]) is None


def test_runai_state_holds_values_and_runaiconfig() -> None:
    asked: list[str] = []
    answers = {
        "runai-backend": [helm_secret("runai-backend", 2, "deployed", {"postgresql": {"enabled": False}})],
        "runai": [],
    }

    def get(path: str) -> Any:
        asked.append(path)
        if "/runaiconfigs/" in path:
            return {"spec": {"workload-controller": {"externalAuthUrlEnabled": False}}}
        namespace = path.split("/")[4]
        return {"items": answers[namespace]}

    files = runai_state(
        {"HELM_RELEASES": "runai-backend/runai-backend,runai/runai-cluster", "RUNAICONFIG": "runai/runai"}, get
    )
    state = json.loads(files["runai-state.json"])
    assert state == {
        "helmValues": {"runai-backend/runai-backend": {"postgresql": {"enabled": False}}, "runai/runai-cluster": None},
        "runaiConfig": {"workload-controller": {"externalAuthUrlEnabled": False}},
    }
    assert "/api/v1/namespaces/runai-backend/secrets?labelSelector=owner%3Dhelm%2Cname%3Drunai-backend" in asked


PG_DUMP = """#!/usr/bin/env bash
[[ $PGPASSWORD == pg-pass-77a1 ]] || { echo "password missing" >&2; exit 2; }
[[ "$*" == "--format=custom --no-password --host=db.example.com --port=5432 --username=runai --dbname=backend" ]] ||
  { echo "unexpected arguments: $*" >&2; exit 2; }
if [[ -n ${FAIL-} ]]; then
  echo 'pg_dump: error: connection to server failed: FATAL: password authentication failed' >&2
  exit 1
fi
printf 'PGDMP-custom-format'
"""


@pytest.mark.process
def test_the_database_dump_runs_pg_dump_with_the_password_in_the_environment(tmp_path: Path) -> None:
    tool = tmp_path / "pg_dump"
    tool.write_text(PG_DUMP)
    tool.chmod(0o755)
    settings = {
        "PATH": "/usr/bin:/bin",
        "PG_DUMP": str(tool),
        "PG_HOST": "db.example.com",
        "PG_PORT": "5432",
        "PG_USER": "runai",
        "PG_DATABASE": "backend",
        "PGPASSWORD": "pg-pass-77a1",
    }
    assert database_dump(settings) == {"runai-db.dump": b"PGDMP-custom-format"}
    assert database_dump({"PATH": "/usr/bin"}) == {}
    with pytest.raises(BackupError) as failed:
        database_dump({**settings, "FAIL": "1"})
    assert "pg_dump of backend on db.example.com failed: pg_dump: error: connection" in str(failed.value)
    assert "pg-pass-77a1" not in str(failed.value)


def test_restore_takes_a_member_name_with_its_peer_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        backup_cli.main(
            ["restore", "--dir", str(tmp_path), "--data-dir", str(tmp_path / "etcd"), "--member-name", "cp-1"]
        )
    assert "--member-name and --peer-url go together" in capsys.readouterr().err
