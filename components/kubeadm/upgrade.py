"""Kubernetes upgrades driven by `cluster.kubernetesVersion`.

One resource per node runs that node's upgrade (components/kubeadm/upgrade.sh,
four phases) when the version changes; it runs nothing when created, since a
machine is prepared and joined at the stack's version. Control planes go one at
a time, the first with `kubeadm upgrade apply` after an etcd snapshot, then the
workers in batches, each batch after the one before: a preview lists the
rollout node by node, a failure stops it with the rest of the cluster serving,
and the next `up` resumes at the node that failed (every phase compares first).
A downgrade or a skipped minor is refused in preview (RemoteScript's check)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pulumi

from components.connection import NodeAccess
from components.node_prep.prep import kubernetes_source, kubernetes_version
from components.remote.command import RemoteScript, step
from components.scripts import render_script
from stacks.inventory import Node, Role
from stacks.model import StackConfig
from stacks.scheduling import SchedulerKind

_SCRIPT = Path(__file__).parent / "upgrade.sh"
PHASES = (
    ("kubeadm", "node"),
    ("drain", "first-control-plane"),
    ("kubelet", "node"),
    ("uncordon", "first-control-plane"),
)
DRIVER_PHASES = (("drain", "first-control-plane"), ("driver", "node"), ("uncordon", "first-control-plane"))


def upgrade_stages(config: StackConfig) -> list[list[str]]:
    """The rollout order: each control plane alone, then the workers in
    batches of `cluster.upgrade.batchSize`."""
    workers = [node.name for node in config.nodes if not node.is_control_plane]
    size = config.cluster.upgrade.batch_size
    return [[node.name] for node in config.control_planes] + [
        workers[start : start + size] for start in range(0, len(workers), size)
    ]


def upgrade_env(config: StackConfig) -> dict[str, str]:
    """What the phases read that is not the version: a change here alone
    upgrades nothing (it applies to the next rollout), so it is exported
    rather than rendered into the scripts (see RemoteScript)."""
    labels = config.labels
    runai = config.scheduler.kind is SchedulerKind.RUNAI
    settings = config.cluster.upgrade
    return {
        **kubernetes_source(config),
        "DRAIN_TAINT": f"{labels.drain_taint_key}={labels.drain_taint_value}:NoExecute" if runai else "",
        "DRAIN_TIMEOUT": f"{settings.drain_timeout}s",
        "READY_TIMEOUT": f"{settings.ready_timeout}s",
    }


def upgrade_steps(node: Node, role: str, config: StackConfig) -> list[dict[str, object]]:
    """The four phases, each rendered with the target version: a new version
    changes them, which is what re-runs them."""
    params = {**kubernetes_version(config), "UPGRADE": "kubernetes", "NODE_NAME": node.name, "ROLE": role}
    return _steps(PHASES, params)


def driver_steps(node: Node, config: StackConfig) -> list[dict[str, object]]:
    """Drain, driver (its verdict captured: a reboot to wait for or not),
    uncordon, rendered with the driver's package and version."""
    nvidia = config.packages.nvidia
    params = {
        "UPGRADE": "nvidia-driver",
        "NODE_NAME": node.name,
        "ROLE": "worker",
        "NVIDIA_DRIVER_PACKAGE": nvidia.driver_package,
        "NVIDIA_DRIVER_VERSION": nvidia.driver_version,
    }
    return _steps(DRIVER_PHASES, params, capture={"driver": "REBOOT"})


def driver_rollout(config: StackConfig) -> list[Node]:
    """The GPU workers whose host driver rolls out node by node: the stack
    installs it on the host at an exact version."""
    nvidia = config.packages.nvidia
    if not (nvidia.install_on_host and nvidia.driver_package and nvidia.driver_version):
        return []
    return [node for node in config.nodes if Role.GPU_WORKER in node.roles]


def _steps(
    phases: tuple[tuple[str, str], ...], params: dict[str, str], capture: dict[str, str] | None = None
) -> list[dict[str, object]]:
    return [
        step(phase, on, render_script(_SCRIPT, {**params, "PHASE": phase}), capture=(capture or {}).get(phase))
        for phase, on in phases
    ]


class KubernetesUpgrade(pulumi.ComponentResource):
    """The per-node upgrade resources in `upgrade_stages` order: first the
    control planes (`control_planes`), after which the workers join, then the
    workers in batches (`workers`), each after its own join too; then the host
    drivers of GPU workers, one node at a time (`drivers`)."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        access: dict[str, NodeAccess],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:kubeadm:KubernetesUpgrade", name, None, opts)
        self._config = config
        self._access = access
        self._first = config.control_planes[0]
        self._env = upgrade_env(config)  # the same for every node
        self.by_node: dict[str, RemoteScript] = {}
        self.drivers: list[RemoteScript] = []

    def control_planes(self, joined: Sequence[pulumi.Resource]) -> pulumi.Resource:
        """One control plane at a time, after every control plane joined;
        returns the last."""
        previous = list(joined)
        for node in self._config.control_planes:
            role = "first-control-plane" if node is self._first else "control-plane"
            previous = [self._node(node, role, previous)]
        return previous[0]

    def workers(self, planes_done: pulumi.Resource, joined: dict[str, pulumi.Resource]) -> None:
        """Workers in batches, each batch after the previous one."""
        previous = [planes_done]
        by_name = {node.name: node for node in self._config.nodes}
        for stage in upgrade_stages(self._config)[len(self._config.control_planes) :]:
            previous = [self._node(by_name[name], "worker", [*previous, joined[name]]) for name in stage]
        # Host drivers after the Kubernetes rollout, one GPU node at a time.
        previous = self.done
        for node in driver_rollout(self._config):
            steps = driver_steps(node, self._config)
            previous = [self._script(f"{node.name}-nvidia-driver-upgrade", node, steps, previous)]
            self.drivers.append(previous[0])
        self.register_outputs({"stages": upgrade_stages(self._config)})

    @property
    def done(self) -> list[pulumi.Resource]:
        return [*self.by_node.values(), *self.drivers]

    def _node(self, node: Node, role: str, after: list[pulumi.Resource]) -> RemoteScript:
        steps = upgrade_steps(node, role, self._config)
        self.by_node[node.name] = self._script(
            f"{node.name}-kubernetes-upgrade", node, steps, after, self._config.cluster.kubernetes_version
        )
        return self.by_node[node.name]

    def _script(
        self,
        name: str,
        node: Node,
        steps: list[dict[str, object]],
        after: list[pulumi.Resource],
        kubernetes_version: str | None = None,
    ) -> RemoteScript:
        access, first = self._access, self._first
        return RemoteScript(
            name,
            connections={"node": access[node.name].connection, "first-control-plane": access[first.name].connection},
            hosts={"node": access[node.name].host, "first-control-plane": access[first.name].host},
            create_steps=steps,
            env=self._env,
            run_on_create=False,
            kubernetes_version=kubernetes_version,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after),
        )
