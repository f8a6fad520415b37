"""The default StorageClass (an NFS provisioner, or local-path for a
single-node lab) and the departments' NFS shares bound into their projects'
namespaces on the KAI path."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.charts import release
from components.managed import MANAGED_BY, Component
from stacks.model import StackConfig
from stacks.storage import Provisioner, Share, StorageConfig

DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


class DefaultStorage(Component):
    """The provisioner whose class is the cluster's default (at most one: the
    stack picks a single provisioner, or none when the cluster has one)."""

    def __init__(self, name: str, storage: StorageConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:storage:DefaultStorage", name, opts)
        child = self.child()
        if storage.provisioner is Provisioner.NFS:
            assert storage.nfs is not None  # checked by the model
            nfs = storage.nfs
            storage_class = {
                "name": storage.class_name,
                "defaultClass": storage.default_class,
                "reclaimPolicy": nfs.reclaim_policy,
            }
            if nfs.reclaim_policy == "Delete":
                # A deleted claim's directory is kept, renamed, not erased
                # (under Retain nothing is ever deleted).
                storage_class["archiveOnDelete"] = True
            self.provisioner: pulumi.Resource = release(
                f"{name}-nfs",
                nfs.chart,
                nfs.namespace,
                {
                    "nfs": {"server": nfs.server, "path": nfs.path, "mountOptions": nfs.mount_options},
                    "storageClass": storage_class,
                },
                child,
                release_name="nfs-provisioner",
            )
        elif storage.provisioner is Provisioner.LOCAL_PATH:
            manifest = k8s.yaml.v2.ConfigFile(f"{name}-local-path", file=storage.local_path.manifest, opts=child)
            self.provisioner = k8s.storage.v1.StorageClassPatch(
                f"{name}-local-path-default",
                metadata={"name": "local-path", "annotations": {DEFAULT_CLASS: str(storage.default_class).lower()}},
                opts=self.child(depends_on=[manifest]),
            )
        self.register_outputs({})


class DepartmentShares(Component):
    """Each share of a department, in each of its projects' namespaces: a
    PersistentVolume on the NFS path, pre-bound to a claim named
    `share-<name>`."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        namespaces: dict[str, k8s.core.v1.Namespace],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:storage:DepartmentShares", name, opts)
        self._name, self._config = name, config
        projects = {d.name: d.projects for d in config.org.departments}
        for share in config.storage.shares:
            for project in projects[share.department]:
                self._bind(share, project.name, namespaces[project.name])
        self.register_outputs({})

    def _bind(self, share: Share, project: str, namespace: k8s.core.v1.Namespace) -> None:
        storage = self._config.storage
        volume = f"{share.department}-{share.name}-{project}"
        claim = f"share-{share.name}"
        modes = ["ReadOnlyMany" if share.read_only else "ReadWriteMany"]
        size = f"{share.size_gb}Gi"
        mount_options = storage.nfs.mount_options if storage.nfs else ["nfsvers=4.1"]
        pv = k8s.core.v1.PersistentVolume(
            f"{self._name}-{volume}",
            metadata={"name": volume, "labels": {**MANAGED_BY, "runai-cluster/department": share.department}},
            spec={
                "capacity": {"storage": size},
                "accessModes": modes,
                # The data belongs to the department, not to the claim.
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "",
                "mountOptions": mount_options,
                "nfs": {"server": storage.share_server(share), "path": share.path, "readOnly": share.read_only},
                "claimRef": {"namespace": namespace.metadata["name"], "name": claim},
            },
            opts=self.child(protect=self._config.is_prod),
        )
        k8s.core.v1.PersistentVolumeClaim(
            f"{self._name}-{project}-{share.name}",
            metadata={"name": claim, "namespace": namespace.metadata["name"], "labels": MANAGED_BY},
            spec={
                "accessModes": modes,
                "storageClassName": "",
                "volumeName": pv.metadata["name"],
                "resources": {"requests": {"storage": size}},
            },
            opts=self.child(protect=self._config.is_prod),
        )
