"""Opt-in validation jobs: a one-GPU smoke test, a fractional-GPU test,
an NCCL all-reduce and HPL as MPIJobs over GPU nodes, and Knative's
autoscaling under load, all in the validation project's namespace under the
cluster's scheduler, never retried (backoff limit 0), with the stack's pull
secret and host-path directory. Each carries what judging it needs (the test,
the threshold) in its labels and annotations; `python -m tools.validation`
reads the verdicts."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.managed import MANAGED_BY, Component
from stacks.model import StackConfig
from stacks.scheduling import SchedulerKind
from stacks.validation import AutoscaleTest, HplTest, NcclTest

TEST_LABEL = "runai-cluster.io/validation"
RUN_LABEL = "runai-cluster.io/validation-run"
THRESHOLD = "runai-cluster.io/validation-threshold"
OUTSIDER = "runai-cluster.io/validation-outsider"
RUNAI_SCHEDULER = "runai-scheduler"


def scheduling(config: StackConfig) -> tuple[str, dict[str, str]]:
    """The scheduler and the pod labels that put a pod in the project."""
    project = config.validation.project
    if config.scheduler.kind is SchedulerKind.KAI:
        kai = config.scheduler.kai
        return kai.scheduler_name, {kai.queue_label: project}
    return RUNAI_SCHEDULER, {"project": project, "runai/queue": project}


def namespace(config: StackConfig) -> str:
    return next(p.namespace_name for _, p in config.org.projects if p.name == config.validation.project)


def _metadata(config: StackConfig, test: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    validation = config.validation
    return {
        "name": f"validation-{test}-{validation.run}",
        "namespace": namespace(config),
        "labels": {**MANAGED_BY, TEST_LABEL: test, RUN_LABEL: str(validation.run)},
        "annotations": annotations or {},
    }


def _pod(config: StackConfig, container: dict[str, Any], annotations: dict[str, str] | None = None) -> dict[str, Any]:
    scheduler, labels = scheduling(config)
    validation = config.validation
    spec: dict[str, Any] = {"schedulerName": scheduler, "restartPolicy": "Never", "containers": [container]}
    if validation.pull_secret:
        spec["imagePullSecrets"] = [{"name": validation.pull_secret}]
    if validation.host_path:
        spec["volumes"] = [{"name": "data", "hostPath": {"path": validation.host_path.path, "type": "Directory"}}]
        container["volumeMounts"] = [{"name": "data", "mountPath": validation.host_path.mount_path}]
    return {"metadata": {"labels": labels, "annotations": annotations or {}}, "spec": spec}


def gpu_job(config: StackConfig, test: str, gpu: dict[str, Any], annotations: dict[str, str]) -> dict[str, Any]:
    """A Job running `nvidia-smi -L` on one GPU or a fraction of one."""
    container = {"name": test, "image": config.validation.cuda_image, "command": ["nvidia-smi", "-L"], **gpu}
    return {
        "metadata": _metadata(config, test),
        "spec": {"backoffLimit": 0, "template": _pod(config, container, annotations)},
    }


def mpi_job(config: StackConfig, test: str, spec: NcclTest | HplTest, command: list[str], threshold: float) -> dict:
    """An MPIJob (MPI Operator v2beta1): one launcher, `nodes` workers with
    `gpusPerNode` GPUs each, one rank per GPU."""
    ranks = spec.nodes * spec.gpus_per_node
    launcher = {"name": "launcher", "image": spec.image, "command": ["mpirun", "-np", str(ranks), *command]}
    worker = {
        "name": "worker",
        "image": spec.image,
        "command": ["sleep", "infinity"],  # the launcher execs the ranks in here
        "resources": {"limits": {"nvidia.com/gpu": spec.gpus_per_node}},
    }
    return {
        "apiVersion": "kubeflow.org/v2beta1",
        "kind": "MPIJob",
        "metadata": _metadata(config, test, {THRESHOLD: str(threshold)}),
        "spec": {
            "slotsPerWorker": spec.gpus_per_node,
            "runPolicy": {"backoffLimit": 0, "cleanPodPolicy": "None"},
            "mpiReplicaSpecs": {
                "Launcher": {"replicas": 1, "template": _pod(config, launcher)},
                "Worker": {"replicas": spec.nodes, "template": _pod(config, worker)},
            },
        },
    }


# Each worker requests until the deadline, keeping the pods' names it is
# answered by; the last line is the verdict's input.
_LOAD = """end=$(( $(date +%s) + {seconds} ))
i=0
while [ "$i" -lt {concurrency} ]; do
  ( while [ "$(date +%s)" -lt "$end" ]; do curl -s --max-time 30 "{url}" | sed -n 's/^Hostname: //p'; done \
    > "/tmp/pods.$i" ) &
  i=$((i + 1))
done
wait
echo "distinct pods: $(cat /tmp/pods.* | sort -u | wc -l)"
"""


def autoscale_objects(config: StackConfig, test: AutoscaleTest) -> list[dict[str, Any]]:
    """A Knative Service scaling on concurrency 1, and the Job loading it."""
    scheduler, labels = scheduling(config)
    service = _metadata(config, "autoscale-service")
    url = f"http://{service['name']}.{service['namespace']}.svc.cluster.local/?wait=500ms"
    answering = {"image": test.image, "ports": [{"containerPort": 80}]}
    knative = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": service,
        "spec": {
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {
                        "autoscaling.knative.dev/metric": "concurrency",
                        "autoscaling.knative.dev/target": "1",
                        "autoscaling.knative.dev/max-scale": str(test.concurrency),
                    },
                },
                "spec": {"schedulerName": scheduler, "containers": [answering]},
            }
        },
    }
    load = {
        "name": "load",
        "image": test.load_image,
        "command": ["sh", "-c", _LOAD.format(url=url, **test.model_dump())],
    }
    job = {
        "kind": "Job",
        "metadata": _metadata(config, "autoscale", {THRESHOLD: str(test.min_pods)}),
        "spec": {"backoffLimit": 0, "template": _pod(config, load)},
    }
    return [knative, job]


def validation_objects(config: StackConfig) -> list[dict[str, Any]]:
    """Every validation object the stack's settings ask for."""
    validation = config.validation
    objects = [{"kind": "Job", **gpu_job(config, "gpu-smoke", {"resources": {"limits": {"nvidia.com/gpu": 1}}}, {})}]
    if validation.fraction:
        fraction = {"gpu-fraction": str(validation.fraction)}
        objects.append({"kind": "Job", **gpu_job(config, "gpu-fraction", {}, fraction)})
    if validation.nccl:
        nccl = validation.nccl
        command = ["all_reduce_perf", "-b", "8", "-e", "4G", "-f", "2", "-g", "1"]
        objects.append(mpi_job(config, "nccl", nccl, command, nccl.min_avg_bus_bandwidth))
    if validation.hpl:
        hpl = validation.hpl
        objects.append(mpi_job(config, "hpl", hpl, ["/workspace/hpl.sh", "--dat", hpl.dat], hpl.min_gflops))
    if validation.autoscale:
        objects += autoscale_objects(config, validation.autoscale)
    return objects


class ValidationJobs(Component):
    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:validation:ValidationJobs", name, opts)
        made: dict[str, pulumi.Resource] = {}
        for document in validation_objects(config):
            test = document["metadata"]["labels"][TEST_LABEL]
            # Jobs run once and are judged later: never awaited.
            document["metadata"]["annotations"]["pulumi.com/skipAwait"] = "true"
            if config.validation.outsider:
                document["metadata"]["annotations"][OUTSIDER] = config.validation.outsider
            # The load starts once the Service it loads exists.
            opts = self.child(depends_on=[made["autoscale-service"]] if test == "autoscale" else [])
            if document["kind"] == "Job":
                made[test] = k8s.batch.v1.Job(
                    f"{name}-{test}", metadata=document["metadata"], spec=document["spec"], opts=opts
                )
            else:
                made[test] = k8s.apiextensions.CustomResource(
                    f"{name}-{test}",
                    api_version=document["apiVersion"],
                    kind=document["kind"],
                    metadata=document["metadata"],
                    spec=document["spec"],
                    opts=opts,
                )
        self.register_outputs({})
