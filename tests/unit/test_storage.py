"""The storage layer under mocks, and its settings refused when wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tests.support.settings import fixture
from tests.unit.test_kai import kai_settings
from tools.mocked_program import Recorded, run_program

PV = "kubernetes:core/v1:PersistentVolume"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
NFS = {"server": "nfs.example.com", "path": "/exports/dynamic"}
SHARES = [
    {"department": "vision", "name": "datasets", "path": "/exports/vision/datasets", "sizeGb": 500},
    {"department": "language", "name": "corpora", "server": "10.0.0.9", "path": "/corpora", "readOnly": True},
]


def with_storage(settings: dict[str, Any], **storage: Any) -> dict[str, Any]:
    settings = copy.deepcopy(settings)
    settings["storage"] = storage
    return settings


@pytest.fixture(scope="module")
def kai() -> Recorded:
    recorded, _ = run_program(with_storage(kai_settings(), provisioner="nfs", nfs=NFS, shares=SHARES))
    return recorded


def test_nfs_provisioner_is_the_default_class(kai: Recorded) -> None:
    releases = {
        r.inputs["name"]: r.inputs for r in kai.of_type("kubernetes:helm.sh/v3:Release", under="DefaultStorage")
    }
    nfs = releases["nfs-provisioner"]
    assert nfs["chart"] == "nfs-subdir-external-provisioner" and nfs["version"] == "4.0.18"
    assert nfs["repositoryOpts"]["repo"] == "https://kubernetes-sigs.github.io/nfs-subdir-external-provisioner/"
    assert nfs["values"]["nfs"] == {
        "server": "nfs.example.com",
        "path": "/exports/dynamic",
        "mountOptions": ["nfsvers=4.1"],
    }
    assert nfs["values"]["storageClass"]["defaultClass"] is True
    assert nfs["values"]["storageClass"]["reclaimPolicy"] == "Retain"


def test_shares_bound_into_each_project_namespace(kai: Recorded) -> None:
    volumes = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in kai.of_type(PV)}
    assert set(volumes) == {"vision-datasets-detection", "vision-datasets-segmentation", "language-corpora-llm"}
    detection = volumes["vision-datasets-detection"]
    assert detection["nfs"] == {"server": "nfs.example.com", "path": "/exports/vision/datasets", "readOnly": False}
    assert detection["claimRef"] == {"namespace": "runai-detection", "name": "share-datasets"}
    assert detection["capacity"] == {"storage": "500Gi"} and detection["persistentVolumeReclaimPolicy"] == "Retain"
    assert volumes["language-corpora-llm"]["nfs"]["server"] == "10.0.0.9"
    assert volumes["language-corpora-llm"]["accessModes"] == ["ReadOnlyMany"]
    claims = {(r.inputs["metadata"]["namespace"], r.inputs["spec"]["volumeName"]) for r in kai.of_type(PVC)}
    assert ("llm-team", "language-corpora-llm") in claims and len(claims) == 3
    # A claim waits for its namespace.
    namespace = next(
        r for r in kai.of_type("kubernetes:core/v1:Namespace") if r.inputs["metadata"]["name"] == "llm-team"
    )
    claim = next(r for r in kai.of_type(PVC) if r.inputs["metadata"]["namespace"] == "llm-team")
    assert namespace.urn in claim.dependencies


def test_claims_are_protected_in_production() -> None:
    settings = fixture("production")
    settings["scheduler"] = {"kind": "kai"}
    settings["org"] = {"departments": [{"name": "research", "projects": [{"name": "vision"}]}]}
    settings = with_storage(settings, provisioner="nfs", nfs=NFS, shares=[dict(SHARES[0], department="research")])
    recorded, _ = run_program(settings, stack="prod")
    assert [r.protect for r in recorded.of_type(PVC)] == [True]
    assert [r.protect for r in recorded.of_type(PV)] == [True]


def test_local_path_for_a_lab_and_none_by_default(dev: Recorded) -> None:
    recorded, _ = run_program(with_storage(fixture("small"), provisioner="local-path"))
    [patch] = recorded.of_type("kubernetes:storage.k8s.io/v1:StorageClassPatch")
    assert patch.inputs["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    [manifest] = recorded.of_type("kubernetes:yaml/v2:ConfigFile", under="DefaultStorage")
    assert manifest.inputs["file"].endswith("/v0.0.37/deploy/local-path-storage.yaml")
    assert manifest.urn in patch.dependencies
    recorded = dev
    assert (
        recorded.of_type("kubernetes:helm.sh/v3:Release", under="DefaultStorage") == [] and recorded.of_type(PV) == []
    )


@pytest.mark.parametrize(
    ("storage", "expected"),
    [
        ({"provisioner": "nfs"}, "storage: nfs: required with provisioner: nfs"),
        ({"nfs": NFS}, "storage: nfs: set, but provisioner is none; set provisioner: nfs"),
        ({"provisioner": "nfs", "nfs": {"server": "nfs", "path": "exports"}}, "storage.nfs.path"),
        ({"provisioner": "nfs", "nfs": {"server": "300.1.1.1", "path": "/x"}}, "storage.nfs.server"),
        ({"shares": [SHARES[0]]}, "storage: shares[0].server: required (there is no nfs provisioner"),
        (
            {"provisioner": "nfs", "nfs": NFS, "shares": [SHARES[0], dict(SHARES[0], name="other")]},
            "storage: shares[1]: department 'vision' already has a share with path /exports/vision/datasets",
        ),
        (
            {"provisioner": "nfs", "nfs": NFS, "shares": [dict(SHARES[0], department="robotics")]},
            "storage.shares[0].department: 'robotics' is not in org.departments (language, vision)",
        ),
    ],
)
def test_bad_storage_settings(storage: dict[str, Any], expected: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_stack(with_storage(kai_settings(), **storage))
    assert expected in str(caught.value)


def test_local_path_refused_in_production() -> None:
    with pytest.raises(StackConfigError, match="local-path keeps data on one node's disk"):
        parse_stack(with_storage(fixture("production"), provisioner="local-path"))
