"""The `validation` section: opt-in jobs that prove the cluster works (seed
000's `validation` project, seed 003's GPU test, seed 001's fractions)."""

from __future__ import annotations

from pydantic import Field, model_validator

from stacks.base import Section


class NcclTest(Section):
    """An all-reduce over `nodes` GPU nodes (an MPIJob through the MPI
    Operator); passes at `minAvgBusBandwidth` or more."""

    # An image with nccl-tests' all_reduce_perf and OpenMPI (build or mirror one).
    image: str = Field(min_length=1)
    nodes: int = Field(2, ge=1)
    gpus_per_node: int = Field(8, ge=1)
    # GB/s, as all_reduce_perf prints its "Avg bus bandwidth" line.
    min_avg_bus_bandwidth: float = Field(gt=0)


class HplTest(Section):
    """HPL from NVIDIA's HPC benchmarks image over `nodes` GPU nodes; passes
    at `minGflops` or more."""

    image: str = Field(min_length=1)
    nodes: int = Field(1, ge=1)
    gpus_per_node: int = Field(8, ge=1)
    # The HPL.dat the image ships for this shape (e.g. hpl-linux-x86_64/sample-dat/HPL-8GPUs.dat).
    dat: str = Field(min_length=1)
    min_gflops: float = Field(gt=0)


class ValidationConfig(Section):
    """Jobs in the project `project` (it must be in `org`), with the
    registry credential `registry` (a `runai.registries` name) when given.
    `run` is part of every job's name: bump it to run them all again."""

    enabled: bool = False
    project: str = "validation"
    run: int = Field(1, ge=1)
    cuda_image: str = "nvcr.io/nvidia/cuda:12.8.1-base-ubuntu24.04"
    # seed 001's example fraction; 0 turns the fractional test off.
    fraction: float = Field(0.1, ge=0, lt=1)
    nccl: NcclTest | None = None
    hpl: HplTest | None = None
    # A user who must not reach the project: the access check expects a refusal.
    outsider: str | None = None

    @model_validator(mode="after")
    def _images_pinned(self) -> ValidationConfig:
        for key, image in (("cudaImage", self.cuda_image), ("nccl.image", self.nccl and self.nccl.image)):
            if image and (":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")):
                raise ValueError(f"{key}: {image!r} is not pinned; give a version tag or a digest")
        return self
