"""Kubernetes upgrades driven by `cluster.kubernetesVersion`.

One resource per node runs that node's upgrade (components/kubeadm/upgrade.sh,
four phases) when the version changes; it runs nothing when created, since a
machine is prepared and joined at the stack's version. Control planes go one at
a time, the first with `kubeadm upgrade apply` after an etcd snapshot, then
each node pool's workers in waves (components/kubeadm/rollout.py), each wave
after the one before: a preview lists the rollout node by node, a failure stops
its pool's rollout with the rest of the cluster serving, and the next `up`
resumes at the node that failed (every phase compares first).
A downgrade or a skipped minor is refused in preview (RemoteScript's check)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi
from pulumi import dynamic

from components.connection import NodeAccess
from components.kubeadm.rollout import plan, rolls_driver, stages
from components.node_prep.prep import kubernetes_source, kubernetes_version
from components.providers import ProviderInputs
from components.remote.command import RemoteScript, step
from components.scripts import render_script
from stacks.inventory import Node
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
        # kubeadm upgrade runs its preflight again; init's ignores carry over.
        "IGNORE_PREFLIGHT_ERRORS": ",".join(sorted(set(config.cluster.ignore_preflight_errors))),
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


def _steps(
    phases: tuple[tuple[str, str], ...], params: dict[str, str], capture: dict[str, str] | None = None
) -> list[dict[str, object]]:
    return [
        step(phase, on, render_script(_SCRIPT, {**params, "PHASE": phase}), capture=(capture or {}).get(phase))
        for phase, on in phases
    ]


class WaveDone(dynamic.Resource):
    """Where a wave of a pool's rollout ends: the next wave waits on this one
    resource rather than on every node of the wave (which made the program's
    dependency checks grow with the square of the wave size). It runs
    nothing and never changes."""

    def __init__(self, name: str, pool: str, wave: int, opts: pulumi.ResourceOptions) -> None:
        super().__init__(_NothingToRun(), name, {"pool": pool, "wave": wave}, opts)


class WaveInputs(ProviderInputs):
    pool: str
    wave: int  # arrives as a float through the engine


class _NothingToRun(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = WaveInputs.of(props)
        return dynamic.CreateResult(id_=f"{given.pool}-wave-{given.wave}", outs=given.props())


class KubernetesUpgrade(pulumi.ComponentResource):
    """The per-node upgrade resources in the order of `plan`: first the
    control planes (`control_planes`), after which the workers join, then
    each pool's workers wave by wave, the pools side by side (`workers`). A
    GPU worker's host driver follows its Kubernetes upgrade in the same wave.
    `done` is what depends on the whole rollout, for what comes after it."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        access: dict[str, NodeAccess],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:kubeadm:KubernetesUpgrade", name, None, opts)
        self._name = name
        self._config = config
        self._access = access
        self._first = config.control_planes[0]
        self._env = upgrade_env(config)  # the same for every node
        self._rollout = plan(config)
        self.by_node: dict[str, RemoteScript] = {}
        self.drivers: dict[str, RemoteScript] = {}
        self.done: list[pulumi.Resource] = []

    def control_planes(self, joined: Sequence[pulumi.Resource]) -> pulumi.Resource:
        """One control plane at a time, after every control plane joined;
        returns the last."""
        previous = list(joined)
        for node in self._rollout.control_planes:
            role = "first-control-plane" if node is self._first else "control-plane"
            previous = [self._node(node, role, previous)]
        self.done = previous
        return previous[0]

    def workers(self, planes_done: pulumi.Resource, joined: dict[str, pulumi.Resource]) -> None:
        """Each pool wave by wave, every node also after its own join; the
        workers in maintenance on their own, their changes ignored."""
        for pool, planned in self._rollout.pools.items():
            after = planes_done
            for index, wave in enumerate(planned.waves, 1):
                ends = [self._worker(node, [after, joined[node.name]]) for node in wave]
                after = WaveDone(
                    f"{self._name}-{pool}-wave-{index}",
                    pool,
                    index,
                    pulumi.ResourceOptions(parent=self, depends_on=ends),
                )
            self.done.append(after)
        for node in self._rollout.maintenance:
            self.done.append(self._worker(node, [planes_done, joined[node.name]], held=True))
        self.register_outputs({"stages": stages(self._rollout)})

    def _worker(self, node: Node, after: list[pulumi.Resource], held: bool = False) -> pulumi.Resource:
        """The node's Kubernetes upgrade, then its host driver's; returns the
        last. A node `held` in maintenance keeps its old steps until it leaves."""
        ignore = ["create_steps", "kubernetes_version"] if held else []
        last: RemoteScript = self._node(node, "worker", after, ignore)
        if rolls_driver(self._rollout, node):
            steps = driver_steps(node, self._config)
            last = self._script(f"{node.name}-nvidia-driver-upgrade", node, steps, [last], ignore=ignore)
            self.drivers[node.name] = last
        return last

    def _node(
        self, node: Node, role: str, after: list[pulumi.Resource], ignore: list[str] | None = None
    ) -> RemoteScript:
        steps = upgrade_steps(node, role, self._config)
        self.by_node[node.name] = self._script(
            f"{node.name}-kubernetes-upgrade", node, steps, after, self._config.cluster.kubernetes_version, ignore
        )
        return self.by_node[node.name]

    def _script(
        self,
        name: str,
        node: Node,
        steps: list[dict[str, object]],
        after: list[pulumi.Resource],
        kubernetes_version: str | None = None,
        ignore: list[str] | None = None,
    ) -> RemoteScript:
        access = self._access[node.name]
        return RemoteScript(
            name,
            connections=access.with_first,
            hosts=access.hosts_with_first,
            create_steps=steps,
            env=self._env,
            run_on_create=False,
            kubernetes_version=kubernetes_version,
            opts=pulumi.ResourceOptions(parent=self, depends_on=after, ignore_changes=ignore),
        )
