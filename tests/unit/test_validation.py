"""Validation jobs: the settings refused when wrong, the objects under mocks,
and the verdicts read from recorded job states and logs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tests.support.settings import fixture
from tools.mocked_program import run_program
from tools.validation import FAILED, PASSED, RUNNING, avg_bus_bandwidth, hpl_gflops, verdicts

NCCL = {"image": "registry.example.com/nccl-tests:2.16.2", "nodes": 2, "gpusPerNode": 8, "minAvgBusBandwidth": 150}
HPL = {"image": "nvcr.io/nvidia/hpc-benchmarks:25.04", "nodes": 1, "dat": "hpl-dat/HPL-8GPUs.dat", "minGflops": 1e5}


def with_validation(**validation: Any) -> dict[str, Any]:
    settings = fixture("production")
    settings["validation"] = {"enabled": True, "project": "serving", **validation}
    return settings


@pytest.mark.parametrize(
    ("validation", "message"),
    [
        ({"project": "nope"}, "validation.project: 'nope' is not a project in org"),
        ({"nccl": {**NCCL, "nodes": 40}}, "validation.nccl.nodes: 40, but the inventory has 8 GPU nodes"),
        ({"hpl": {**HPL, "gpusPerNode": 16}}, "validation.hpl.gpusPerNode: 16, but a GPU node may have 8"),
        ({"cudaImage": "nvcr.io/nvidia/cuda"}, "cudaImage: 'nvcr.io/nvidia/cuda' is not pinned"),
        ({"nccl": {**NCCL, "minAvgBusBandwidth": 0}}, "minAvgBusBandwidth"),
    ],
)
def test_bad_validation_settings_are_refused(validation: dict[str, Any], message: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_stack(with_validation(**validation))
    assert message in str(caught.value)


def test_autoscale_needs_knative() -> None:
    settings = with_validation(autoscale={})
    settings["addons"]["knative"] = {"enabled": False}
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    assert "validation.autoscale: needs Knative" in str(caught.value)


def test_knative_autoscaling_under_load_with_the_pull_secret_and_host_path() -> None:
    settings = with_validation(
        autoscale={"concurrency": 30, "seconds": 90, "minPods": 3},
        pullSecret="nvcr-secret",
        hostPath={"path": "/lustre/validation"},
    )
    recorded, _ = run_program(settings, stack="prod")
    [service] = recorded.of_type("kubernetes:serving.knative.dev/v1:Service")
    template = service.inputs["spec"]["template"]
    assert template["metadata"]["annotations"]["autoscaling.knative.dev/target"] == "1"
    assert template["spec"]["schedulerName"] == "runai-scheduler"
    jobs = {r.inputs["metadata"]["name"]: r for r in recorded.of_type("kubernetes:batch/v1:Job")}
    load = jobs["validation-autoscale-1"]
    assert service.urn in load.dependencies
    assert load.inputs["metadata"]["annotations"]["runai-cluster.io/validation-threshold"] == "3"
    script = load.inputs["spec"]["template"]["spec"]["containers"][0]["command"][2]
    assert "http://validation-autoscale-service-1.runai-serving.svc.cluster.local/?wait=500ms" in script
    assert '[ "$i" -lt 30 ]' in script and "+ 90 ))" in script
    smoke = jobs["validation-gpu-smoke-1"].inputs["spec"]["template"]["spec"]
    assert smoke["imagePullSecrets"] == [{"name": "nvcr-secret"}]
    assert smoke["volumes"] == [{"name": "data", "hostPath": {"path": "/lustre/validation", "type": "Directory"}}]
    assert smoke["containers"][0]["volumeMounts"] == [{"name": "data", "mountPath": "/mount/data"}]


@pytest.mark.process
def test_the_load_script_counts_the_pods_that_answered(tmp_path: Path) -> None:
    # The Job's script for real under sh, with curl answering from three pods.
    settings = with_validation(autoscale={"concurrency": 3, "seconds": 10})
    recorded, _ = run_program(settings, stack="prod")
    load = next(r for r in recorded.of_type("kubernetes:batch/v1:Job") if r.name.endswith("-autoscale"))
    script = load.inputs["spec"]["template"]["spec"]["containers"][0]["command"][2].replace("/tmp/", f"{tmp_path}/")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text('#!/bin/sh\nsleep 0.2\necho "Hostname: pod-$(( $$ % 3 ))"\n')
    (bin_dir / "curl").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip().splitlines()[-1] == "distinct pods: 3"


def test_mpi_tests_need_the_training_layer() -> None:
    settings = with_validation(nccl=NCCL)
    settings["addons"]["training"] = {"enabled": False}
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    assert "validation.nccl: runs as an MPIJob; add mpi to addons.workloadTypes" in str(caught.value)
    settings["addons"] = {"workloadTypes": ["inference", "distributed"]}
    with pytest.raises(StackConfigError, match=r"validation\.nccl: runs as an MPIJob; add mpi"):
        parse_stack(settings)


def test_jobs_in_the_project_under_the_runai_scheduler() -> None:
    recorded, _ = run_program(with_validation(nccl=NCCL, hpl=HPL, outsider="mallory@example.com"), stack="prod")
    jobs = {r.inputs["metadata"]["name"]: r for r in recorded.of_type("kubernetes:batch/v1:Job")}
    smoke, fraction = jobs["validation-gpu-smoke-1"], jobs["validation-gpu-fraction-1"]
    assert smoke.inputs["metadata"]["namespace"] == "runai-serving"
    assert smoke.inputs["spec"]["backoffLimit"] == 0
    pod = smoke.inputs["spec"]["template"]
    assert pod["spec"]["schedulerName"] == "runai-scheduler"
    assert pod["metadata"]["labels"] == {"project": "serving", "runai/queue": "serving"}
    assert pod["spec"]["containers"][0]["resources"] == {"limits": {"nvidia.com/gpu": 1}}
    assert fraction.inputs["spec"]["template"]["metadata"]["annotations"] == {"gpu-fraction": "0.1"}
    assert "resources" not in fraction.inputs["spec"]["template"]["spec"]["containers"][0]
    mpijobs = {r.inputs["metadata"]["name"]: r for r in recorded.of_type("kubernetes:kubeflow.org/v2beta1:MPIJob")}
    nccl = mpijobs["validation-nccl-1"].inputs
    assert nccl["metadata"]["annotations"]["runai-cluster.io/validation-threshold"] == "150.0"
    assert nccl["metadata"]["annotations"]["runai-cluster.io/validation-outsider"] == "mallory@example.com"
    replicas = nccl["spec"]["mpiReplicaSpecs"]
    assert replicas["Worker"]["replicas"] == 2 and nccl["spec"]["slotsPerWorker"] == 8
    assert replicas["Launcher"]["template"]["spec"]["containers"][0]["command"][:3] == ["mpirun", "-np", "16"]
    hpl = mpijobs["validation-hpl-1"].inputs
    assert hpl["spec"]["mpiReplicaSpecs"]["Launcher"]["template"]["spec"]["containers"][0]["command"][-2:] == [
        "--dat",
        "hpl-dat/HPL-8GPUs.dat",
    ]
    # After the project that makes the namespace and the MPI Operator's CRD.
    for job in [smoke, mpijobs["validation-nccl-1"]]:
        names = {dep.rsplit("::", 1)[-1] for dep in job.dependencies}
        assert "gpu-prod-runai-org-project-serving" in names
        assert any(name.startswith("gpu-prod-layers-training") for name in names)


# --- verdicts -------------------------------------------------------------------

NCCL_LOG = """#       size         count      type   redop    root     time   algbw   busbw #wrong
  4294967296    1073741824     float     sum      -1    43210  99.40  186.37      0
# Out of bounds values : 0 OK
# Avg bus bandwidth    : 182.41
"""
HPL_LOG = """T/V                N    NB     P     Q         Time          Gflops (   per GPU)
--------------------------------------------------------------------------------
WR03L2L2      180000  1024     2     4        22.78       1.707e+05 ( 2.134e+04)
WR03L2L2      180000  1024     2     4        22.10       1.759e+05 ( 2.199e+04)
"""


class FakeApi:
    """Answers like the API server, from recorded objects."""

    def __init__(self, jobs: list[dict[str, Any]], mpijobs: list[dict[str, Any]], allowed: bool = False) -> None:
        self.jobs, self.mpijobs, self.allowed = jobs, mpijobs, allowed
        # Pod names by test (the Job's pod shares the launcher's naming here).
        self.logs = {"nccl-launcher": NCCL_LOG, "hpl-launcher": HPL_LOG, "autoscale-launcher": "distinct pods: 3\n"}

    def get(self, path: str) -> dict[str, Any]:
        if "/jobs?" in path:
            return {"items": self.jobs}
        if "/mpijobs?" in path:
            return {"items": self.mpijobs}
        name = path.split("job-name%3D")[1].split("%2C")[0]
        return {"items": [{"metadata": {"name": name.removeprefix("validation-").rsplit("-", 1)[0] + "-launcher"}}]}

    def text(self, method: str, path: str) -> str:
        return self.logs[path.split("/")[-2]]

    def request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert body["spec"]["resourceAttributes"] == {
            "namespace": "runai-serving",
            "verb": "create",
            "resource": "pods",
        }
        return {"status": {"allowed": self.allowed}}


def recorded(test: str, run: int, status: dict[str, Any], threshold: float | None = None) -> dict[str, Any]:
    annotations = {"runai-cluster.io/validation-outsider": "mallory@example.com"}
    if threshold is not None:
        annotations["runai-cluster.io/validation-threshold"] = str(threshold)
    labels = {"runai-cluster.io/validation": test, "runai-cluster.io/validation-run": str(run)}
    return {
        "metadata": {"name": f"validation-{test}-{run}", "labels": labels, "annotations": annotations},
        "status": status,
    }


def succeeded() -> dict[str, Any]:
    return {"conditions": [{"type": "Succeeded", "status": "True"}]}


def test_measurements_are_read_from_the_logs() -> None:
    assert avg_bus_bandwidth(NCCL_LOG) == 182.41
    assert hpl_gflops(HPL_LOG) == 1.759e05
    assert avg_bus_bandwidth("no summary") is None and hpl_gflops("T/V N\n") is None


def test_verdicts_of_the_newest_run() -> None:
    api = FakeApi(
        jobs=[
            recorded("gpu-smoke", 1, {"failed": 1}),  # an older run: ignored
            recorded("gpu-smoke", 2, {"succeeded": 1}),
            recorded("gpu-fraction", 2, {"active": 1}),
        ],
        mpijobs=[recorded("nccl", 2, succeeded(), threshold=150), recorded("hpl", 2, succeeded(), threshold=2e5)],
    )
    api.jobs.append(recorded("autoscale", 2, {"succeeded": 1}, threshold=4))
    found = {v.test: (v.result, v.detail) for v in verdicts(api, "runai-serving")}  # type: ignore[arg-type]
    assert found == {
        "gpu-smoke": (PASSED, "completed"),
        "gpu-fraction": (RUNNING, "not finished"),
        "nccl": (PASSED, "182.41 GB/s average bus bandwidth (threshold 150)"),
        "hpl": (FAILED, "175900 GFLOPS (threshold 200000)"),
        "autoscale": (FAILED, "3 pods answered (threshold 4)"),
        "access": (PASSED, "mallory@example.com is refused pods in runai-serving"),
    }
    older = {v.test: v.result for v in verdicts(api, "runai-serving", run=1)}  # type: ignore[arg-type]
    assert older["gpu-smoke"] == FAILED


def test_an_outsider_allowed_in_fails_the_access_check() -> None:
    api = FakeApi(jobs=[recorded("gpu-smoke", 1, {"succeeded": 1})], mpijobs=[], allowed=True)
    [_, access] = verdicts(api, "runai-serving")  # type: ignore[arg-type]
    assert (access.test, access.result) == ("access", FAILED)


@pytest.mark.parametrize(
    ("autoscale", "message"),
    [
        ({"concurrency": 1}, "validation.autoscale.concurrency: Input should be greater than or equal to 2"),
        ({"minPods": 1}, "validation.autoscale.minPods: Input should be greater than or equal to 2"),
        ({"image": "traefik/whoami"}, "autoscale.image: 'traefik/whoami' is not pinned"),
    ],
)
def test_bad_autoscale_settings_are_refused(autoscale: dict[str, Any], message: str) -> None:
    with pytest.raises(StackConfigError) as caught:
        parse_stack(with_validation(autoscale=autoscale))
    assert message in str(caught.value)
