"""The MPIJob CRD hand-over on a real API server: a cluster whose Training
Operator CRD (kubeflow.org/v1) holds an MPIJob is refused in preview and in
`up` until the stack acknowledges the migration; then the old CRD goes, the
Training Operator is applied without it and with only its non-MPI schemes,
and the MPI Operator's v2beta1 CRD takes the name.

No chart or manifest can be downloaded here, so the two operators are
stand-ins (tests/support/standins.py: a kustomize overlay with the v1 CRD
and a Deployment, a manifest with the v2beta1 CRD): what is real is the API server,
the engine, kustomize, our hand-over and the guard that keeps a CRD holding
user objects when the layer is turned off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.kube_api import KubeApi
from components.training.mpijob_crd import CRD_PATH, MpiJobMigrationRefusedError, hand_over
from tests.support.standins import training_sources
from tools.lab.__main__ import PROJECT, STACK, LabState, stack_settings, stack_workdir, up
from tools.lab.control_plane import ControlPlane
from tools.lab.crds import mpijob_crd
from tools.lab.sshd import free_port
from tools.stackrun import checked, engine_env, run


def with_training(state: LabState, overlay: Path, mpi: Path, acknowledged: bool) -> dict[str, Any]:
    settings = stack_settings(state)
    settings[f"{PROJECT}:addons"]["training"] = {
        "source": str(overlay),
        "mpiOperatorSource": str(mpi),
        "acknowledgeMpiJobMigration": acknowledged,
    }
    return settings


def test_mpijob_crd_is_replaced_only_when_acknowledged(lab: Path, tmp_path: Path) -> None:
    assert up(lab, 4, free_port(), free_port(), free_port()) == 0
    state = LabState.load(lab)
    assert state is not None
    plane = ControlPlane(Path(state.binaries), lab / "control-plane", state.api_port, state.etcd_port)
    plane.install_crd(mpijob_crd("v1"))
    job = {"apiVersion": "kubeflow.org/v1", "kind": "MPIJob", "metadata": {"name": "allreduce"}, "spec": {}}
    plane.request("POST", "/apis/kubeflow.org/v1/namespaces/default/mpijobs", job)
    api = KubeApi((lab / "admin.kubeconfig").read_text())
    with pytest.raises(MpiJobMigrationRefusedError, match=r"holds 1 MPIJob"):
        hand_over(api, acknowledged=False)
    assert api.get(CRD_PATH) is not None

    overlay, mpi = training_sources(tmp_path / "sources")
    env = engine_env()
    work = stack_workdir(lab, state, with_training(state, overlay, mpi, acknowledged=False))
    refused = run(["preview", "--stack", STACK], work, env)
    assert refused.returncode != 0
    assert "holds 1 MPIJob(s)" in refused.stdout + refused.stderr
    assert "acknowledgeMpiJobMigration: true" in refused.stdout + refused.stderr
    assert api.get("/apis/kubeflow.org/v1/namespaces/default/mpijobs/allreduce") is not None

    work = stack_workdir(lab, state, with_training(state, overlay, mpi, acknowledged=True))
    checked(["up", "--yes", "--skip-preview", "--stack", STACK], work, env)
    crd = api.get(CRD_PATH)
    assert crd is not None
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v2beta1"]
    deployment = api.get("/apis/apps/v1/namespaces/kubeflow/deployments/training-operator")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "--enable-scheme=tfjob",
        "--enable-scheme=pytorchjob",
        "--enable-scheme=xgboostjob",
    ]
    checked(["preview", "--expect-no-changes", "--stack", STACK], work, env)

    # An MPIJob under the MPI Operator's CRD: turning the layer off is refused
    # (it would delete the CRD and the job with it) until the job is gone.
    job = {"apiVersion": "kubeflow.org/v2beta1", "kind": "MPIJob", "metadata": {"name": "nccl"}, "spec": {}}
    plane.request("POST", "/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs", job)
    settings = with_training(state, overlay, mpi, acknowledged=True)
    settings[f"{PROJECT}:addons"]["training"]["enabled"] = False
    work = stack_workdir(lab, state, settings)
    refused = run(["up", "--yes", "--skip-preview", "--stack", STACK], work, env)
    assert refused.returncode != 0
    assert "mpijobs.kubeflow.org holds 1 object(s)" in refused.stdout + refused.stderr
    assert api.get(CRD_PATH) is not None
    assert api.get("/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs/nccl") is not None
    api.delete("/apis/kubeflow.org/v2beta1/namespaces/default/mpijobs/nccl")
    checked(["up", "--yes", "--skip-preview", "--stack", STACK], work, env)
    assert api.get(CRD_PATH) is None
