"""The `validation` section: opt-in jobs that prove the cluster works (a GPU
smoke test, a fractional GPU, NCCL, HPL, autoscaling) in a project of its own."""

from __future__ import annotations

from pydantic import Field, model_validator

from stacks.base import Section


class NcclTest(Section):
    """An all-reduce over `nodes` GPU nodes (an MPIJob through the MPI
    Operator); passes at `minAvgBusBandwidth` or more."""

    image: str = Field(min_length=1)
    """An image with nccl-tests' all_reduce_perf and OpenMPI (build or mirror one)."""
    nodes: int = Field(2, ge=1)
    gpus_per_node: int = Field(8, ge=1)
    min_avg_bus_bandwidth: float = Field(gt=0)
    """GB/s, as all_reduce_perf prints its "Avg bus bandwidth" line."""


class HplTest(Section):
    """HPL from NVIDIA's HPC benchmarks image over `nodes` GPU nodes; passes
    at `minGflops` or more."""

    image: str = Field(min_length=1)
    nodes: int = Field(1, ge=1)
    gpus_per_node: int = Field(8, ge=1)
    dat: str = Field(min_length=1)
    """The HPL.dat the image ships for this shape (e.g. hpl-linux-x86_64/sample-dat/HPL-8GPUs.dat)."""
    min_gflops: float = Field(gt=0)


class AutoscaleTest(Section):
    """Does inference autoscale: a Knative Service that answers
    with its pod's name, a concurrency target of 1, and a Job sending
    `concurrency` requests at a time for `seconds`; passes when answers came
    from `minPods` pods or more."""

    image: str = "traefik/whoami:v1.10.3"
    """Answers with "Hostname: <pod>" and honours ?wait= (traefik/whoami does)."""
    load_image: str = "curlimages/curl:8.11.1"
    concurrency: int = Field(20, ge=2, le=500)
    seconds: int = Field(60, ge=10, le=1800)
    min_pods: int = Field(2, ge=2)


class HostPath(Section):
    """A host-path data source: a directory of the shared file
    system, mounted into the GPU tests."""

    path: str = Field(pattern=r"^/")
    mount_path: str = Field("/mount/data", pattern=r"^/")


class ValidationConfig(Section):
    """Jobs in the project `project` (it must be in `org`), with the
    registry credential `registry` (a `runai.registries` name) when given.
    `run` is part of every job's name: bump it to run them all again."""

    enabled: bool = False
    """create the validation jobs"""
    project: str = "validation"
    """the project they run in; must be in `org`"""
    run: int = Field(1, ge=1)
    """part of every job's name: bump it to run them all again"""
    cuda_image: str = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04"
    """image of the smoke and fraction tests (pinned)"""
    fraction: float = Field(0.1, ge=0, lt=1)
    """the fractional test's share of a GPU; `0` turns it off"""
    nccl: NcclTest | None = None
    """`{image (with all_reduce_perf and OpenMPI), nodes (2), gpusPerNode (8), minAvgBusBandwidth (GB/s)}`"""
    hpl: HplTest | None = None
    """`{image (NVIDIA's HPC benchmarks), nodes (1), gpusPerNode (8), dat (the HPL.dat to use), minGflops}`"""
    autoscale: AutoscaleTest | None = None
    """`{image (traefik/whoami:v1.10.3), loadImage (curlimages/curl:8.11.1), concurrency (20), seconds (60), minPods
    (2)}`; needs Knative"""
    # A Secret in the project's namespace the pods pull with (an nvcr.io key, say).
    pull_secret: str | None = None
    """a Secret in the project's namespace every validation pod pulls with"""
    host_path: HostPath | None = None
    """`{path, mountPath (/mount/data)}` mounted into every validation pod"""
    # A user who must not reach the project: the access check expects a refusal.
    outsider: str | None = None
    """a user who must be refused pods in the project"""

    @model_validator(mode="after")
    def _images_pinned(self) -> ValidationConfig:
        images = {
            "cudaImage": self.cuda_image,
            "nccl.image": self.nccl and self.nccl.image,
            "hpl.image": self.hpl and self.hpl.image,
            "autoscale.image": self.autoscale and self.autoscale.image,
            "autoscale.loadImage": self.autoscale and self.autoscale.load_image,
        }
        for key, image in images.items():
            if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
                raise ValueError(f"{key}: {image!r} is not pinned; give a version tag or a digest")
        return self
