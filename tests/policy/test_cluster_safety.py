"""Each policy with a passing and a violating case."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policy"))

from cluster_safety import (
    control_plane_quorum,
    production_backups,
    production_host_keys,
    production_system_nodes,
)


def inventory(**overrides: Any) -> dict[str, Any]:
    base = {
        "environment": "prod",
        "bootstrap": "kubeadm",
        "kubernetesVersion": "1.32.8",
        "controlPlanes": ["cp-1", "cp-2", "cp-3"],
        "systemNodes": ["sys-1", "sys-2"],
        "unpinnedHostKeys": [],
        "etcdBackups": True,
    }
    return base | overrides


def test_a_sound_production_inventory_passes() -> None:
    for rule in (control_plane_quorum, production_system_nodes, production_host_keys, production_backups):
        assert rule("prod", inventory()) == []


@pytest.mark.parametrize(
    ("planes", "expected"),
    [
        (["cp-1", "cp-2"], "2 control planes (cp-1, cp-2); etcd needs an odd number"),
        (["cp-1"], "production needs at least 3 control planes, has 1"),
    ],
)
def test_control_plane_quorum(planes: list[str], expected: str) -> None:
    assert any(expected in message for message in control_plane_quorum("gpu-prod", inventory(controlPlanes=planes)))


def test_one_control_plane_is_fine_outside_production() -> None:
    assert control_plane_quorum("lab", inventory(environment="dev", controlPlanes=["cp-1"])) == []


def test_production_needs_two_system_nodes() -> None:
    [message] = production_system_nodes("gpu-prod", inventory(systemNodes=["sys-1"]))
    assert "production needs at least 2 Run:ai system nodes, has 1 (sys-1)" in message
    assert "add the `system` role" in message
    assert production_system_nodes("dev", inventory(environment="dev", systemNodes=[])) == []


def test_production_needs_pinned_host_keys() -> None:
    [message] = production_host_keys("gpu-prod", inventory(unpinnedHostKeys=["gpu-3", "gpu-4"]))
    assert "SSH host keys are not pinned for gpu-3, gpu-4" in message
    assert production_host_keys("dev", inventory(environment="dev", unpinnedHostKeys=["gpu-3"])) == []


def test_production_needs_etcd_backups() -> None:
    [message] = production_backups("gpu-prod", inventory(etcdBackups=False))
    assert message.startswith("cluster 'gpu-prod': etcd backups are off in production: set `backup.enabled: true`")
    assert production_backups("dev", inventory(environment="dev", etcdBackups=False)) == []
