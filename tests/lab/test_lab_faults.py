"""Faults during `pulumi up` of the lab: a host's sshd down, the API server
down. The failure names what broke; a re-run after repair converges."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.lab.__main__ import ADMISSION_PLUGINS, STACK, LabState, alive, apply, down, start
from tools.lab.sshd import free_port, start_sshd
from tools.stackrun import STATE, checked, engine_env


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, LabState]]:
    monkeypatch.setenv("PULUMI_BACKEND_URL", f"file://{tmp_path / 'backend'}")
    (tmp_path / "backend").mkdir()
    directory = tmp_path / "lab"
    state = start(directory, 4, free_port(), free_port(), free_port())
    yield directory, state
    down(directory)


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)


def no_changes() -> None:
    checked(["preview", "--expect-no-changes", "--stack", STACK], STATE / "work" / STACK, engine_env())


def test_a_host_down_fails_alone_and_a_rerun_converges(lab: tuple[Path, LabState]) -> None:
    directory, state = lab
    kill(state.pids["sshd-lab-gpu-2"])
    failed = apply(directory, state, "--continue-on-error", capture=True)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "127.0.0.14" in output and "unreachable after 3 attempts" in output
    plane = state.control_plane(directory)
    # The other nodes finished.
    labels = plane.node("lab-gpu-1")["metadata"]["labels"]
    assert labels["node-role.kubernetes.io/runai-gpu-worker"] == "true"

    host = next(h for h in state.hosts if h["name"] == "lab-gpu-2")
    public = (directory / "id_ed25519.pub").read_text().strip()
    restarted = start_sshd(directory / "hosts" / "lab-gpu-2", public, host["address"], state.ssh_port)
    state.pids["sshd-lab-gpu-2"] = restarted.process.pid
    state.save(directory)
    assert restarted.host_key == host["host_key"]  # the pinned key still holds

    assert apply(directory, state).returncode == 0
    no_changes()


def test_api_server_down_then_back_converges(lab: tuple[Path, LabState]) -> None:
    directory, state = lab
    plane = state.control_plane(directory)
    kill(state.pids["kube-apiserver"])
    failed = apply(directory, state, capture=True)
    assert failed.returncode != 0
    assert "127.0.0.1" in failed.stdout + failed.stderr

    state.pids["kube-apiserver"] = plane.start_apiserver(ADMISSION_PLUGINS)
    # The controller manager exits when it loses the API server while still
    # starting; kubelet would restart its static pod, so the lab does.
    if not alive(state.pids["kube-controller-manager"]):
        state.pids["kube-controller-manager"] = plane.start_controller_manager()
    state.save(directory)
    assert apply(directory, state).returncode == 0
    no_changes()
    for name in ("lab-gpu-1", "lab-gpu-2"):
        labels = plane.node(name)["metadata"]["labels"]
        assert labels["run.ai/node-pool"] == "lab"
    # Nothing duplicated: one patch per node, and the Nodes are the ones we registered.
    nodes = plane.request("GET", "/api/v1/nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == sorted(h["name"] for h in state.hosts)
