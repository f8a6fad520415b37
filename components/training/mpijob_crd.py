"""The MPIJob CRD hand-over from the Training Operator (kubeflow.org/v1) to
the MPI Operator (v2beta1).

Both define `mpijobs.kubeflow.org`. On a fresh cluster the Training
Operator's is simply never installed. On a cluster that already has it, it
must go before the MPI Operator's is applied, and deleting a CRD deletes
every object in it: so it is deleted only when it holds no MPIJobs, or when
the stack acknowledges the migration. Checked in preview too, so a pull
request shows the refusal before anything is touched."""

from __future__ import annotations

import time
from typing import Any

import pulumi
from pulumi import dynamic

from components.kube_api import KubeApi, KubeApiError, count_objects, crd_path
from components.managed import secret_outputs
from components.providers import ProviderInputs

CRD = "mpijobs.kubeflow.org"
CRD_PATH = crd_path(CRD)
MPI_OPERATOR_VERSION = "v2beta1"


class MpiJobMigrationRefusedError(Exception):
    pass


def training_operator_crd(api: KubeApi) -> dict[str, Any] | None:
    """The CRD when it is the Training Operator's (no v2beta1 served)."""
    crd = api.get(CRD_PATH)
    if crd is None:
        return None
    versions = {v["name"] for v in crd.get("spec", {}).get("versions", []) if v.get("served")}
    return None if MPI_OPERATOR_VERSION in versions else crd


def refusal(count: int) -> str:
    return (
        f"{CRD} is the Training Operator's (kubeflow.org/v1) and holds {count} MPIJob(s); the MPI Operator "
        "replaces it and deleting it deletes them. Back them up (kubectl get mpijobs -A -o yaml), then set "
        "addons.training.acknowledgeMpiJobMigration: true"
    )


def hand_over(api: KubeApi, acknowledged: bool, wait_seconds: float = 120) -> int:
    """Delete the Training Operator's CRD if allowed; the MPIJobs it held."""
    crd = training_operator_crd(api)
    if crd is None:
        return 0
    count = count_objects(api, crd)
    if count and not acknowledged:
        raise MpiJobMigrationRefusedError(refusal(count))
    api.delete(CRD_PATH)
    deadline = time.monotonic() + wait_seconds
    while api.get(CRD_PATH) is not None:  # finalizers remove the objects first
        if time.monotonic() > deadline:
            raise KubeApiError(f"{CRD} still present {wait_seconds:.0f} s after its deletion")
        time.sleep(1)
    return count


class MpiJobCrdInputs(ProviderInputs):
    kubeconfig: str  # secret
    acknowledged: bool  # addons.training.acknowledgeMpiJobMigration
    removed_mpi_jobs: int = 0  # an output


class MpiJobCrdProvider(dynamic.ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        kubeconfig = news.get("kubeconfig")
        if isinstance(kubeconfig, str) and kubeconfig and not news.get("acknowledged"):
            try:
                api = KubeApi(kubeconfig, timeout=10)
                crd = training_operator_crd(api)
                count = count_objects(api, crd) if crd else 0
            except (KubeApiError, KeyError, ValueError):
                count = 0  # cluster not reachable yet: create and update check again
            if count:
                failures.append(dynamic.CheckFailure("acknowledged", refusal(count)))
        return dynamic.CheckResult(news, failures)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(CRD, _handed_over(MpiJobCrdInputs.of(props)))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(_handed_over(MpiJobCrdInputs.of(news)))


def _handed_over(given: MpiJobCrdInputs) -> dict[str, Any]:
    removed = hand_over(KubeApi(given.kubeconfig), given.acknowledged)
    return {**given.props(), "removed_mpi_jobs": removed}


class MpiJobCrdHandOver(dynamic.Resource):
    """Runs before the Training and MPI operators are applied."""

    removed_mpi_jobs: pulumi.Output[int]

    def __init__(
        self, name: str, kubeconfig: pulumi.Output[str], acknowledged: bool, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(
            MpiJobCrdProvider(),
            name,
            {"kubeconfig": pulumi.Output.secret(kubeconfig), "acknowledged": acknowledged, "removed_mpi_jobs": None},
            secret_outputs(opts, "kubeconfig"),
        )
