"""The lab end to end: real SSH hosts, a real API server, `pulumi up`, a
second `up` with nothing to do, `destroy` leaving none of our fields."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.lab.__main__ import STACK, LabState, down, up
from tools.lab.control_plane import ControlPlane
from tools.lab.sshd import free_port
from tools.stackrun import STATE, checked, engine_env

LABELS = {
    "lab-cp-1": {},
    "lab-sys-1": {
        "node-role.kubernetes.io/runai-system": "true",
        "node-role.kubernetes.io/runai-cpu-worker": "true",
    },
    "lab-gpu-1": {"node-role.kubernetes.io/runai-gpu-worker": "true", "run.ai/node-pool": "lab"},
    "lab-gpu-2": {"node-role.kubernetes.io/runai-gpu-worker": "true", "run.ai/node-pool": "lab"},
}


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    (tmp_path / "backend").mkdir()
    directory = tmp_path / "lab"
    yield directory
    down(directory)


def our_labels(plane: ControlPlane, name: str) -> dict[str, str]:
    labels = plane.node(name)["metadata"].get("labels", {})
    return {k: v for k, v in labels.items() if k.startswith(("node-role.kubernetes.io/runai", "run.ai/"))}


def test_up_again_and_destroy(lab: Path) -> None:
    assert up(lab, 4, free_port(), free_port(), free_port()) == 0
    state = LabState.load(lab)
    assert state is not None
    plane = ControlPlane(Path(state.binaries), lab / "control-plane", state.api_port, state.etcd_port)
    for name, labels in LABELS.items():
        assert our_labels(plane, name) == labels, name
    assert plane.node("lab-gpu-1")["status"]["capacity"]["nvidia.com/gpu"] == "2"

    work = STATE / "work" / STACK
    env = engine_env()
    report = json.loads(checked(["stack", "output", "preflight", "--json", "--stack", STACK], work, env))
    assert set(report) == set(LABELS)
    assert all(node["passed"] for node in report.values())
    assert {c["check"] for c in report["lab-gpu-1"]["checks"]} >= {"os", "cpus", "memory", "disk", "gpus"}

    # A second `up` changes nothing.
    assert up(lab, 4, state.api_port, state.etcd_port, state.ssh_port) == 0
    checked(["preview", "--expect-no-changes", "--stack", STACK], work, env)

    checked(["destroy", "--yes", "--skip-preview", "--stack", STACK], work, env)
    for name in LABELS:
        assert our_labels(plane, name) == {}, name
