"""The `preflight` section: read-only checks of every machine before node
preparation, and the minimum size of each role."""

from __future__ import annotations

from pydantic import Field

from stacks.base import Section
from stacks.inventory import Node, Role


class RoleMinimum(Section):
    cpus: int = Field(ge=1)
    memory_gb: int = Field(ge=1)
    disk_gb: int = Field(ge=1)


# Control planes: kubeadm's own minimum (2 CPUs, 2 GB). System nodes: the
# Run:ai system-node minimum (4 CPUs, 8 GB, 120 GB disk). Workers: enough for
# kubelet, the runtime and the GPU Operator's images.
DEFAULT_MINIMUMS = {
    Role.CONTROL_PLANE: RoleMinimum(cpus=2, memory_gb=2, disk_gb=20),
    Role.SYSTEM: RoleMinimum(cpus=4, memory_gb=8, disk_gb=120),
    Role.GPU_WORKER: RoleMinimum(cpus=4, memory_gb=16, disk_gb=100),
    Role.CPU_WORKER: RoleMinimum(cpus=2, memory_gb=4, disk_gb=50),
}

# TCP ports each role's Kubernetes components listen on.
ROLE_PORTS = {
    Role.CONTROL_PLANE: (6443, 2379, 2380, 10250, 10257, 10259),
    Role.SYSTEM: (10250,),
    Role.GPU_WORKER: (10250,),
    Role.CPU_WORKER: (10250,),
}


class PreflightConfig(Section):
    enabled: bool = True
    """run the read-only checks before node preparation"""
    # Bump to run the checks again on demand (`pulumi up` after the bump).
    rerun: int = Field(0, ge=0)
    """bump to run the checks again on the next `pulumi up`"""
    # A lab without GPUs: the GPU count is taken from the inventory as given.
    gpus_simulated: bool = False
    """a lab without GPUs: no driver looked for"""
    # Names every node must resolve (the Run:ai domain, the registry).
    dns_names: list[str] = Field(default_factory=list)
    """names every node must resolve (the Run:ai domain, the registry)"""
    # An NFS server every node must reach on 2049/tcp.
    nfs_server: str | None = None
    """an NFS server every node must reach on 2049/tcp"""
    minimums: dict[Role, RoleMinimum] = Field(default_factory=lambda: dict(DEFAULT_MINIMUMS))
    """per role; a node must meet the largest minimum among its roles; disk is measured where
    `packages.containerd.dataRoot` lives"""
    ignore: list[str] = Field(default_factory=list)
    """Checks reported but not enforced (a lab on a machine without br_netfilter, say): names as in the report, e.g.
    "module-br_netfilter"."""

    def minimum_for(self, node: Node) -> RoleMinimum:
        """The largest requirement among the node's roles."""
        wanted = [self.minimums.get(role, DEFAULT_MINIMUMS[role]) for role in node.roles]
        return RoleMinimum(
            cpus=max(m.cpus for m in wanted),
            memory_gb=max(m.memory_gb for m in wanted),
            disk_gb=max(m.disk_gb for m in wanted),
        )

    @staticmethod
    def ports_for(node: Node) -> list[int]:
        return sorted({port for role in node.roles for port in ROLE_PORTS[role]})
