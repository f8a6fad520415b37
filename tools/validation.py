"""Verdicts of the validation jobs (components/validation.py).

    python -m tools.validation --kubeconfig admin.conf --namespace runai-validation [--run N]

One line per test of the newest run (or --run): passed, failed or running,
with the measurement against its threshold for NCCL (average bus bandwidth,
GB/s) and HPL (GFLOPS), read from the MPIJob launcher's log, and for Knative's
autoscaling (pods that answered the load Job); and, when the
stack names an outsider, whether the API server refuses them pods in the
project (a SubjectAccessReview). Exit status 0 when everything passed, 1 when
something failed, 2 when something has not finished."""

from __future__ import annotations

import argparse
import re
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.kube_api import KubeApi
from components.validation import OUTSIDER, RUN_LABEL, TEST_LABEL, THRESHOLD

PASSED, FAILED, RUNNING = "passed", "failed", "running"
_BUS_BANDWIDTH = re.compile(r"#\s*Avg bus bandwidth\s*:\s*([0-9.]+)")


@dataclass(frozen=True)
class Verdict:
    test: str
    result: str
    detail: str


def avg_bus_bandwidth(log: str) -> float | None:
    """all_reduce_perf's summary line: `# Avg bus bandwidth    : 182.4`."""
    found = _BUS_BANDWIDTH.findall(log)
    return float(found[-1]) if found else None


def hpl_gflops(log: str) -> float | None:
    """The best Gflops of HPL's result lines (`WR...  N NB P Q Time Gflops`)."""
    values = []
    for line in log.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[0].startswith("WR"):
            try:
                values.append(float(fields[6]))
            except ValueError:
                continue
    return max(values) if values else None


def distinct_pods(log: str) -> float | None:
    """The autoscale load's last line: `distinct pods: 4`."""
    found = re.findall(r"distinct pods:\s*([0-9]+)", log)
    return float(found[-1]) if found else None


MEASURES: dict[str, tuple[str, Callable[[str], float | None]]] = {
    "nccl": ("GB/s average bus bandwidth", avg_bus_bandwidth),
    "hpl": ("GFLOPS", hpl_gflops),
    "autoscale": ("pods answered", distinct_pods),
}


def _condition(status: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def state(item: dict[str, Any], mpi: bool) -> str:
    """A Job's or an MPIJob's state from its status."""
    status = item.get("status") or {}
    if _condition(status, "Failed") or (not mpi and status.get("failed")):
        return FAILED
    if _condition(status, "Succeeded") or (not mpi and status.get("succeeded")):
        return PASSED
    return RUNNING


def judge(item: dict[str, Any], mpi: bool, log: Callable[[], str | None]) -> tuple[str, str]:
    """The state, and for a measured test its measurement against the
    threshold (read from the log of its launcher, or of its only pod)."""
    result = state(item, mpi)
    if result == RUNNING:
        return RUNNING, "not finished"
    if result == FAILED:
        return FAILED, "failed (see its log)"
    test = item["metadata"]["labels"][TEST_LABEL]
    if test not in MEASURES:
        return PASSED, "completed"
    unit, measure = MEASURES[test]
    threshold = float(item["metadata"]["annotations"][THRESHOLD])
    value = measure(log() or "")
    if value is None:
        return FAILED, f"no {unit} in its log"
    return (PASSED if value >= threshold else FAILED), f"{value:g} {unit} (threshold {threshold:g})"


def _items(api: KubeApi, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (api.get(f"{path}?labelSelector={urllib.parse.quote(TEST_LABEL)}") or {}).get(
        "items", []
    )
    return items


def verdicts(api: KubeApi, namespace: str, run: int | None = None) -> list[Verdict]:
    jobs = [(job, False) for job in _items(api, f"/apis/batch/v1/namespaces/{namespace}/jobs")]
    mpijobs = [(job, True) for job in _items(api, f"/apis/kubeflow.org/v2beta1/namespaces/{namespace}/mpijobs")]
    objects = jobs + mpijobs
    if not objects:
        return []
    wanted = run or max(int(o["metadata"]["labels"][RUN_LABEL]) for o, _ in objects)
    chosen = [(o, mpi) for o, mpi in objects if int(o["metadata"]["labels"][RUN_LABEL]) == wanted]
    found = []
    for item, mpi in sorted(chosen, key=lambda pair: pair[0]["metadata"]["labels"][TEST_LABEL]):
        name = item["metadata"]["name"]
        result, detail = judge(item, mpi, lambda name=name, mpi=mpi: pod_log(api, namespace, name, mpi))
        found.append(Verdict(item["metadata"]["labels"][TEST_LABEL], result, detail))
    outsider = next((o["metadata"].get("annotations", {}).get(OUTSIDER) for o, _ in chosen), None)
    if outsider:
        found.append(access_check(api, namespace, outsider))
    return found


def pod_log(api: KubeApi, namespace: str, name: str, mpi: bool) -> str | None:
    """The log of an MPIJob's launcher, or of a Job's pod."""
    wanted = (
        f"training.kubeflow.org/job-name={name},training.kubeflow.org/job-role=launcher" if mpi else f"job-name={name}"
    )
    selector = urllib.parse.quote(wanted)
    pods = (api.get(f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}") or {}).get("items", [])
    if not pods:
        return None
    return api.text("GET", f"/api/v1/namespaces/{namespace}/pods/{pods[0]['metadata']['name']}/log")


def access_check(api: KubeApi, namespace: str, user: str) -> Verdict:
    """The outsider must not be allowed to create pods in the project."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "pods"}},
    }
    answer = api.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", review) or {}
    allowed = bool((answer.get("status") or {}).get("allowed"))
    if allowed:
        return Verdict("access", FAILED, f"{user} may create pods in {namespace}")
    return Verdict("access", PASSED, f"{user} is refused pods in {namespace}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path, required=True)
    parser.add_argument("--namespace", required=True, help="the validation project's namespace")
    parser.add_argument("--run", type=int, help="the run to judge (default: the newest)")
    args = parser.parse_args(argv)
    found = verdicts(KubeApi(args.kubeconfig.read_text()), args.namespace, args.run)
    if not found:
        print(f"no validation jobs in {args.namespace}", file=sys.stderr)
        return 2
    for verdict in found:
        print(f"{verdict.test:14} {verdict.result:8} {verdict.detail}")
    results = {v.result for v in found}
    return 1 if FAILED in results else 2 if RUNNING in results else 0


if __name__ == "__main__":
    sys.exit(main())
