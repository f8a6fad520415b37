"""The lab tier's shared fixtures: a directory for a lab and a backend of its
own (the lab is destroyed and stopped afterwards whatever happened), and a
bare control plane (etcd, kube-apiserver, kube-controller-manager)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.lab.__main__ import ADMISSION_PLUGINS, down, lab_binaries, lab_kubernetes_version, terminate
from tools.lab.control_plane import ControlPlane
from tools.lab.sshd import free_port


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    (tmp_path / "backend").mkdir()
    directory = tmp_path / "lab"
    yield directory
    down(directory)


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[tuple[ControlPlane, dict[str, int]]]:
    control = ControlPlane(lab_binaries(lab_kubernetes_version()), tmp_path / "control-plane", free_port(), free_port())
    control.directory.mkdir()
    pids = control.start(ADMISSION_PLUGINS)
    yield control, pids
    terminate(*pids.values(), wait=15)
