"""A real restore on the lab's control plane: objects created, an etcd
snapshot taken through etcd's gateway and uploaded to a moto bucket, etcd's
data wiped, `python -m tools.backup restore`, objects back."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import boto3
import pytest

from components.backup.agent import S3Store, etcd_snapshot, take
from tests.support.s3 import moto_server, use_test_credentials
from tools import backup as backup_cli
from tools.lab.__main__ import ADMISSION_PLUGINS, terminate
from tools.lab.control_plane import ControlPlane


def config_map(name: str, value: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"value": value}}


def names(plane: ControlPlane) -> set[str]:
    items = plane.request("GET", "/api/v1/namespaces/default/configmaps")["items"]
    return {item["metadata"]["name"] for item in items} - {"kube-root-ca.crt"}


def test_snapshot_to_s3_wipe_and_restore(
    plane: tuple[ControlPlane, dict[str, int]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    control, pids = plane
    use_test_credentials(monkeypatch)
    for index in range(3):
        control.request("POST", "/api/v1/namespaces/default/configmaps", config_map(f"keep-{index}", str(index)))
    with moto_server() as endpoint:
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="lab-backups")
        store = S3Store(client, "lab-backups", "lab/etcd")
        snapshot = etcd_snapshot(f"http://127.0.0.1:{control.etcd_port}")
        taken = take(store, {"etcd.snapshot": snapshot}, dt.datetime.now(dt.UTC))

        # After the backup: one more object, one deleted; then etcd's data is lost.
        control.request("POST", "/api/v1/namespaces/default/configmaps", config_map("after-backup", "x"))
        control.request("DELETE", "/api/v1/namespaces/default/configmaps/keep-0")
        assert names(control) == {"keep-1", "keep-2", "after-backup"}
        for name in ("kube-controller-manager", "kube-apiserver", "etcd"):
            terminate(pids[name], wait=15)
        shutil.rmtree(control.etcd_data)

        etcdutl = str(Path(control.binaries) / "etcdutl")
        args = ["--s3-endpoint", endpoint, "--bucket", "lab-backups", "--prefix", "lab/etcd"]
        assert backup_cli.main(["list", *args]) == 0
        assert capsys.readouterr().out.startswith(f"{taken.id}  ")
        assert backup_cli.main(["restore", *args, "--data-dir", str(control.etcd_data), "--etcdutl", etcdutl]) == 0
        # A second restore into the same directory is refused, not merged.
        assert backup_cli.main(["restore", *args, "--data-dir", str(control.etcd_data), "--etcdutl", etcdutl]) == 1

    pids["etcd"] = control.start_etcd()
    pids["kube-apiserver"] = control.start_apiserver(ADMISSION_PLUGINS)
    assert names(control) == {"keep-0", "keep-1", "keep-2"}, f"restored from {taken.id}"
    assert control.request("GET", "/api/v1/namespaces/default/configmaps/keep-1")["data"] == {"value": "1"}
