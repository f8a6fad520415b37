"""The backup agent: takes an etcd snapshot, uploads it with the cluster's PKI
(and, on the Run:ai path, the values of Run:ai's Helm releases, the RunaiConfig
and a dump of an external control-plane database) to S3-compatible storage or
an NFS path, prunes old backups, and fetches one back for a restore.

One file on purpose: the CronJob mounts it from a ConfigMap and runs it with
`python agent.py take`; operators import it (`python -m tools.backup`). It
needs the standard library and boto3 only.

A backup is the objects `<prefix>/<id>/<name>` plus `<prefix>/<id>/MANIFEST.json`
(sizes and SHA-256 of every object), written last: a backup without its
manifest is incomplete, is never chosen for a restore and never counts as a
replacement for an older one."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import ssl
import subprocess
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

MANIFEST = "MANIFEST.json"
ID_FORMAT = "%Y%m%dT%H%M%SZ"
# An upload without a manifest this old is an interrupted one, not one in flight.
STALE_INCOMPLETE = dt.timedelta(days=1)


class BackupError(Exception):
    """A backup or restore that cannot go on; the message says why."""


class Store(Protocol):
    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes: ...
    def names(self) -> Iterator[str]: ...
    def delete(self, keys: list[str]) -> None: ...


class S3Store:
    """A bucket and prefix on any S3-compatible endpoint."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
        # The endpoint verifies the checksum, so a truncated body is refused.
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ChecksumAlgorithm="SHA256", ChecksumSHA256=digest
        )

    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return body

    def names(self) -> Iterator[str]:
        start = f"{self.prefix}/" if self.prefix else ""
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=start):
            for item in page.get("Contents", []):
                yield item["Key"][len(start) :]

    def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # the API's limit per call
            batch = [{"Key": self._key(key)} for key in keys[start : start + 1000]]
            result = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                raise BackupError(f"could not delete {result['Errors'][0]['Key']}: {result['Errors'][0]['Message']}")


class DirectoryStore:
    """A directory, typically an NFS export mounted into the pod."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a reader never sees half a file

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def names(self) -> Iterator[str]:
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(".partial"):
                yield str(path.relative_to(self.root))

    def delete(self, keys: list[str]) -> None:
        for key in keys:
            (self.root / key).unlink(missing_ok=True)
        for directory in sorted({(self.root / key).parent for key in keys}, reverse=True):
            if directory != self.root and directory.exists() and not any(directory.iterdir()):
                directory.rmdir()


@dataclass(frozen=True)
class Backup:
    id: str
    created: dt.datetime
    files: dict[str, dict[str, Any]]


def backup_id(now: dt.datetime) -> str:
    return now.astimezone(dt.UTC).strftime(ID_FORMAT)


def _created(identifier: str) -> dt.datetime | None:
    try:
        return dt.datetime.strptime(identifier, ID_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError:
        return None  # not ours


def take(store: Store, files: dict[str, bytes], now: dt.datetime) -> Backup:
    """Upload `files` as one backup; the manifest goes last. On failure the
    partial objects of this backup are removed (best effort) and the error
    raised; no other backup is touched."""
    identifier = backup_id(now)
    manifest = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)} for name, data in files.items()}
    written: list[str] = []
    try:
        for name, data in files.items():
            store.put(f"{identifier}/{name}", data)
            written.append(f"{identifier}/{name}")
        body = {"id": identifier, "created": now.astimezone(dt.UTC).isoformat(), "files": manifest}
        store.put(f"{identifier}/{MANIFEST}", json.dumps(body, indent=2).encode())
    except Exception as error:
        with contextlib.suppress(Exception):  # the upload's error is the one to report
            store.delete(written)
        raise BackupError(f"backup {identifier} failed and was not recorded: {error}") from error
    return Backup(identifier, now.astimezone(dt.UTC), manifest)


def _by_backup(store: Store) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for key in store.names():
        identifier, _, name = key.partition("/")
        if name and _created(identifier):
            grouped.setdefault(identifier, set()).add(name)
    return grouped


def backups(store: Store) -> list[Backup]:
    """Complete backups, newest first."""
    found = []
    for identifier, names in _by_backup(store).items():
        if MANIFEST not in names:
            continue
        manifest = json.loads(store.get(f"{identifier}/{MANIFEST}"))
        if set(manifest["files"]) <= names:
            found.append(Backup(identifier, dt.datetime.fromisoformat(manifest["created"]), manifest["files"]))
    return sorted(found, key=lambda b: b.created, reverse=True)


def prune(store: Store, keep: int, max_age: dt.timedelta, now: dt.datetime) -> list[str]:
    """Delete complete backups beyond the newest `keep` and older than
    `max_age`, and interrupted uploads older than a day. The newest complete
    backup is never deleted. Returns the ids deleted."""
    complete = backups(store)
    doomed = [b.id for index, b in enumerate(complete) if index > 0 and (index >= keep or now - b.created > max_age)]
    complete_ids = {b.id for b in complete}
    for identifier in _by_backup(store):
        created = _created(identifier)
        if identifier not in complete_ids and created and now - created > STALE_INCOMPLETE:
            doomed.append(identifier)
    grouped = _by_backup(store)
    # Manifests first: a backup half-deleted is then incomplete, never corrupt.
    for identifier in doomed:
        store.delete([f"{identifier}/{MANIFEST}"])
    store.delete([f"{identifier}/{name}" for identifier in doomed for name in grouped.get(identifier, set())])
    return sorted(doomed)


def fetch(store: Store, backup: Backup, destination: Path) -> dict[str, Path]:
    """Download a backup and verify every object against its manifest."""
    destination.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, expected in backup.files.items():
        data = store.get(f"{backup.id}/{name}")
        digest = hashlib.sha256(data).hexdigest()
        if digest != expected["sha256"] or len(data) != expected["size"]:
            raise BackupError(
                f"backup {backup.id}: {name} does not match its manifest (sha256 {digest}); not restoring"
            )
        paths[name] = destination / name
        paths[name].write_bytes(data)
    return paths


def etcd_snapshot(endpoint: str, context: ssl.SSLContext | None = None, timeout: float = 120) -> bytes:
    """A consistent snapshot of etcd's keyspace through its HTTP gateway
    (the Maintenance.Snapshot stream), as `etcdctl snapshot save` takes it."""
    request = urllib.request.Request(
        f"{endpoint}/v3/maintenance/snapshot", data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    chunks = []
    with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
        for line in response:
            if not line.strip():
                continue
            message = json.loads(line)
            if "error" in message:
                raise BackupError(f"etcd refused the snapshot: {message['error']}")
            chunks.append(base64.b64decode(message["result"].get("blob", "")))
    snapshot = b"".join(chunks)
    if not snapshot:
        raise BackupError(f"etcd at {endpoint} returned an empty snapshot")
    return snapshot


def tar_directory(path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(path, arcname=path.name)
    return buffer.getvalue()


def release_values(secrets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """What `helm get values` prints, from a release's storage Secrets (Helm 3:
    data.release is base64 of gzip'ed JSON, inside the Secret's own base64):
    the newest deployed revision's user-supplied values."""
    deployed = [s for s in secrets if s.get("metadata", {}).get("labels", {}).get("status") == "deployed"]
    if not deployed:
        return None
    newest = max(deployed, key=lambda s: int(s["metadata"]["labels"]["version"]))
    payload = base64.b64decode(base64.b64decode(newest["data"]["release"]))
    if payload[:2] == b"\x1f\x8b":
        payload = gzip.decompress(payload)
    config: dict[str, Any] = json.loads(payload).get("config") or {}
    return config


def in_cluster_get(env: dict[str, str]) -> Any:
    """GET on the API server as the pod's service account."""
    account = Path(env.get("SERVICE_ACCOUNT_DIR", "/var/run/secrets/kubernetes.io/serviceaccount"))
    context = ssl.create_default_context(cafile=str(account / "ca.crt"))
    token = (account / "token").read_text().strip()
    server = f"https://{env['KUBERNETES_SERVICE_HOST']}:{env.get('KUBERNETES_SERVICE_PORT', '443')}"

    def get(path: str) -> Any:
        request = urllib.request.Request(server + path, headers={"Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, context=context, timeout=60) as answer:
                return json.loads(answer.read())
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            raise BackupError(f"GET {path}: HTTP {error.code} {error.reason}") from None

    return get


def runai_state(env: dict[str, str], get: Any) -> dict[str, bytes]:
    """HELM_RELEASES ("namespace/release,...") and RUNAICONFIG
    ("namespace/name"): the chart values and the RunaiConfig spec Run:ai's
    backup guide asks to keep, as one JSON object (null: not installed yet)."""
    state: dict[str, Any] = {"helmValues": {}, "runaiConfig": None}
    for entry in filter(None, env.get("HELM_RELEASES", "").split(",")):
        namespace, release = entry.split("/")
        selector = urllib.parse.quote(f"owner=helm,name={release}")
        answer = get(f"/api/v1/namespaces/{namespace}/secrets?labelSelector={selector}") or {"items": []}
        state["helmValues"][entry] = release_values(answer["items"])
    if env.get("RUNAICONFIG"):
        namespace, name = env["RUNAICONFIG"].split("/")
        found = get(f"/apis/run.ai/v1/namespaces/{namespace}/runaiconfigs/{name}")
        state["runaiConfig"] = found.get("spec") if found else None
    return {"runai-state.json": json.dumps(state, indent=2, sort_keys=True).encode()}


def database_dump(env: dict[str, str]) -> dict[str, bytes]:
    """`pg_dump --format=custom` of PG_DATABASE on PG_HOST (PGPASSWORD from
    the environment, never on the command line); nothing without PG_HOST."""
    if not env.get("PG_HOST"):
        return {}
    command = [
        env.get("PG_DUMP", "pg_dump"),
        "--format=custom",
        "--no-password",
        f"--host={env['PG_HOST']}",
        f"--port={env.get('PG_PORT', '5432')}",
        f"--username={env['PG_USER']}",
        f"--dbname={env['PG_DATABASE']}",
    ]
    result = subprocess.run(command, capture_output=True, env=env, check=False, timeout=3600)
    if result.returncode != 0 or not result.stdout:
        detail = result.stderr.decode(errors="replace").strip()[-500:]
        raise BackupError(f"pg_dump of {env['PG_DATABASE']} on {env['PG_HOST']} failed: {detail or 'no output'}")
    return {"runai-db.dump": result.stdout}


def store_from_env(env: dict[str, str]) -> Store:
    """The store the CronJob's environment names: BACKUP_DIR (an NFS mount)
    or S3_ENDPOINT/S3_BUCKET/S3_PREFIX with AWS_* credentials."""
    if env.get("BACKUP_DIR"):
        return DirectoryStore(Path(env["BACKUP_DIR"]))
    import boto3  # only the S3 path needs it

    client = boto3.client(
        "s3",
        endpoint_url=env.get("S3_ENDPOINT") or None,
        region_name=env.get("S3_REGION", "us-east-1"),
        verify=env.get("S3_CA_BUNDLE") or True,
    )
    return S3Store(client, env["S3_BUCKET"], env.get("S3_PREFIX", ""))


def run_from_env(env: dict[str, str], now: dt.datetime) -> Backup:
    """The CronJob's work: snapshot, PKI, upload, prune."""
    context = ssl.create_default_context(cafile=env["ETCD_CA"])
    context.load_cert_chain(env["ETCD_CERT"], env["ETCD_KEY"])
    files = {
        "etcd.snapshot": etcd_snapshot(env.get("ETCD_ENDPOINT", "https://127.0.0.1:2379"), context),
        "pki.tar.gz": tar_directory(Path(env.get("PKI_DIR", "/etc/kubernetes/pki"))),
        **database_dump(env),
    }
    if env.get("HELM_RELEASES") or env.get("RUNAICONFIG"):
        files |= runai_state(env, in_cluster_get(env))
    store = store_from_env(env)
    backup = take(store, files, now)
    deleted = prune(store, int(env.get("KEEP", "14")), dt.timedelta(days=int(env.get("MAX_AGE_DAYS", "30"))), now)
    print(json.dumps({"backup": backup.id, "files": backup.files, "pruned": deleted}))
    return backup


def main(argv: list[str]) -> int:
    if argv[1:] != ["take"]:
        print("usage: agent.py take   (settings from the environment)", file=sys.stderr)
        return 2
    try:
        run_from_env(dict(os.environ), dt.datetime.now(dt.UTC))
    except (BackupError, OSError, KeyError, subprocess.SubprocessError) as error:
        print(f"backup failed: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
