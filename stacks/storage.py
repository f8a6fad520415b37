"""The `storage` section: the cluster's default StorageClass and the
departments' NFS shares."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from stacks.base import Chart, Section, check_host

_ABSOLUTE = r"^/"


class Provisioner(StrEnum):
    NFS = "nfs"  # dynamic volumes as directories of one NFS export
    LOCAL_PATH = "local-path"  # node-local directories: single-node labs only
    NONE = "none"  # the cluster already has a default class (existing mode)


class NfsProvisioner(Section):
    server: Annotated[str, AfterValidator(check_host)]
    path: str = Field(pattern=_ABSOLUTE)
    mount_options: list[str] = Field(default_factory=lambda: ["nfsvers=4.1"])
    reclaim_policy: str = Field("Retain", pattern=r"^(Retain|Delete)$")
    """Retain: a deleted claim leaves its data on the export."""
    chart: Chart = Chart(
        repository="https://kubernetes-sigs.github.io/nfs-subdir-external-provisioner/",
        name="nfs-subdir-external-provisioner",
        version="4.0.18",
    )
    namespace: str = "nfs-provisioner"


class LocalPathProvisioner(Section):
    manifest: str = (
        "https://raw.githubusercontent.com/rancher/local-path-provisioner/v0.0.37/deploy/local-path-storage.yaml"
    )
    """the manifest URL (mirror it when air-gapped)"""


class Share(Section):
    """An NFS directory a department's projects mount (e.g. /mnt/nfs/lab1 for
    lab1)."""

    department: str
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=40)
    server: Annotated[str, AfterValidator(check_host)] | None = None
    """Defaults to the provisioner's NFS server."""
    path: str = Field(pattern=_ABSOLUTE)
    size_gb: int = Field(100, ge=1)
    read_only: bool = False
    mount_path: str | None = Field(None, pattern=_ABSOLUTE)
    """Where workloads see it (Run:ai data sources; default /data/<name>)."""

    @property
    def mount_at(self) -> str:
        return self.mount_path or f"/data/{self.name}"


class StorageConfig(Section):
    provisioner: Provisioner = Provisioner.NONE
    """`nfs`, `local-path` (not in production) or `none` (the cluster has a default class already)"""
    # The class this stack makes is the cluster's default.
    default_class: bool = True
    """the class made is the cluster's default (one default results: the stack makes at most one class)"""
    class_name: str = "nfs-client"
    """the NFS class's name"""
    nfs: NfsProvisioner | None = None
    """with `provisioner: nfs`: `{server, path (absolute), mountOptions (["nfsvers=4.1"]), reclaimPolicy (Retain or
    Delete; Retain), chart (nfs-subdir-external-provisioner 4.0.18), namespace}`"""
    local_path: LocalPathProvisioner = LocalPathProvisioner()
    shares: list[Share] = Field(default_factory=list)
    """`{department, name, server (the nfs provisioner's), path (absolute), sizeGb (100), readOnly (false), mountPath
    (/data/<name>, Run:ai path)}`; names and paths unique per department; on the Run:ai path a department data
    source; on the KAI path a volume `<department>-<name>-<project>` and a claim `share-<name>` in each project's
    namespace, kept (Retain, protected in production) when removed"""

    @model_validator(mode="after")
    def _consistent(self) -> StorageConfig:
        if self.provisioner is Provisioner.NFS and self.nfs is None:
            raise ValueError("nfs: required with provisioner: nfs ({server, path})")
        if self.provisioner is not Provisioner.NFS and self.nfs is not None:
            raise ValueError(f"nfs: set, but provisioner is {self.provisioner.value}; set provisioner: nfs")
        seen: set[tuple[str, str]] = set()
        for index, share in enumerate(self.shares):
            if share.server is None and self.nfs is None:
                raise ValueError(f"shares[{index}].server: required (there is no nfs provisioner to take it from)")
            for key in ((share.department, f"name {share.name}"), (share.department, f"path {share.path}")):
                if key in seen:
                    raise ValueError(
                        f"shares[{index}]: department '{share.department}' already has a share with {key[1]}"
                    )
                seen.add(key)
        return self

    def share_server(self, share: Share) -> str:
        server = share.server or (self.nfs.server if self.nfs else None)
        assert server is not None  # checked above
        return server
