"""The `nodes` section: the machines, one entry each."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from stacks.base import Section, check_host, check_k8s_name


class Role(StrEnum):
    CONTROL_PLANE = "control-plane"
    SYSTEM = "system"  # runs the Run:ai services (two or more in production)
    GPU_WORKER = "gpu-worker"
    CPU_WORKER = "cpu-worker"


class Removal(StrEnum):
    GRACEFUL = "graceful"  # drain, `kubeadm reset` over SSH, delete the Node
    FORCE = "force"  # the machine is dead: delete the Node (and etcd member)


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Taint(Section):
    key: str
    value: str = ""
    effect: TaintEffect = TaintEffect.NO_SCHEDULE


class Gpu(Section):
    model: str = Field(min_length=1)  # e.g. "A100-SXM4-80GB"
    """required on, and only on, `gpu-worker` nodes"""
    count: int = Field(ge=1, le=64)
    """required on, and only on, `gpu-worker` nodes"""


class Node(Section):
    name: Annotated[str, AfterValidator(check_k8s_name)]
    """node name, a lowercase DNS label, unique"""
    address: Annotated[str, AfterValidator(check_host)]
    """IP address or hostname, unique"""
    roles: list[Role] = Field(min_length=1)
    """any of `control-plane`, `system`, `gpu-worker`, `cpu-worker`"""
    gpu: Gpu | None = None
    node_pool: str | None = None
    """Run:ai node pool"""
    labels: dict[str, str] = Field(default_factory=dict)
    """extra labels"""
    taints: list[Taint] = Field(default_factory=list)
    """`{key, value, effect}`"""
    # Puts Run:ai's drain taint on: workloads leave, nothing new lands.
    maintenance: bool = False
    """put the drain taint on"""
    # Bump after reinstalling the machine: its preparation runs again.
    generation: int = Field(0, ge=0)
    """bump to re-prepare a reinstalled machine"""
    removal: Removal = Removal.GRACEFUL
    """`graceful` or `force` (see "Removing a node" in docs/operations.md)"""
    # Per-node overrides of the `ssh` section.
    ssh_user: str | None = None
    """per-node overrides (default: from `ssh`)"""
    ssh_port: int | None = Field(None, ge=1, le=65535)
    """per-node overrides (default: from `ssh`)"""
    # Pinned host key ("ssh-ed25519 AAAA..."); connections to any other key fail.
    host_key: str | None = None
    """pinned SSH host key"""

    @model_validator(mode="after")
    def _gpu_matches_role(self) -> Node:
        is_gpu_worker = Role.GPU_WORKER in self.roles
        if self.gpu and not is_gpu_worker:
            raise ValueError("gpu is set but roles lack 'gpu-worker': add the role or remove gpu")
        if is_gpu_worker and not self.gpu:
            raise ValueError("role 'gpu-worker' needs gpu: {model, count}")
        if len(set(self.roles)) != len(self.roles):
            raise ValueError("roles lists a role twice")
        return self

    @property
    def is_control_plane(self) -> bool:
        return Role.CONTROL_PLANE in self.roles
