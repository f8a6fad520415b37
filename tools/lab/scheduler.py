"""The real KAI Scheduler against the lab's API server: its scheduler, binder,
podgrouper and queuecontroller as processes, and KWOK keeping the lab's
Nodes Ready and running the pods bound to them (nothing is executed)."""

from __future__ import annotations

import copy
import os
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tools.go_cache import built
from tools.lab.__main__ import PROJECT, LabState, stack_settings, start, terminate
from tools.lab.control_plane import ControlPlane
from tools.lab.crds import kai_crds
from tools.lab.sshd import free_port

# KWOK takes over the Nodes carrying this annotation.
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
SCHEDULER_NAME = "kai-scheduler"
# The tier's own project copy: the lab tier's is rewritten by each of its `up`s.
WORK_NAME = "lab-scheduler"


def scheduler_binaries() -> Path:
    """KAI's binaries and CRDs and KWOK, built once and cached."""
    return built("scheduler_binaries.sh")


def _local() -> str:
    return f"127.0.0.1:{free_port()}"


@dataclass(frozen=True)
class Scheduler:
    binaries: Path
    directory: Path
    scheduler_name: str

    def commands(self, kubeconfig: Path) -> dict[str, list[str]]:
        def controller() -> list[str]:  # each on ports of its own
            return [
                f"--scheduler-name={self.scheduler_name}",
                "--leader-elect=false",
                f"--metrics-bind-address={_local()}",
                f"--health-probe-bind-address={_local()}",
            ]

        key, value = KWOK_ANNOTATION
        return {
            "kwok": [
                f"--kubeconfig={kubeconfig}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={key}={value}",
                "--cidr=10.240.0.1/16",  # room for the bench's pods
            ],
            "scheduler": [
                f"--scheduler-name={self.scheduler_name}",
                "--leader-elect=false",
                f"--listen-address={_local()}",
                f"--plugin-server-port={free_port()}",
            ],
            "binder": controller(),
            "podgrouper": controller(),
            "queuecontroller": [
                "--enable-webhook=false",
                "--leader-elect=false",
                f"--metrics-listen-address={_local()}",
            ],
        }

    def start(self, plane: ControlPlane, pids: dict[str, int]) -> None:
        """Start every process as the lab's admin, filling `pids` as they start."""
        self.directory.mkdir(parents=True, exist_ok=True)
        kubeconfig = self.directory / "admin.kubeconfig"
        kubeconfig.write_text(plane.pki.kubeconfig(plane.server, "admin"))
        env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
        for name, args in self.commands(kubeconfig).items():
            log = (self.directory / f"{name}.log").open("ab")
            process = subprocess.Popen(
                [str(self.binaries / name), *args], stdout=log, stderr=log, env=env, start_new_session=True
            )
            pids[name] = process.pid


def hand_to_kwok(plane: ControlPlane, nodes: Iterable[str], seconds: float = 90) -> None:
    """Annotate the Nodes for KWOK and wait until each is Ready and untainted
    by the node-lifecycle controller."""
    key, value = KWOK_ANNOTATION
    names = list(nodes)
    annotate = {"metadata": {"annotations": {key: value}}}
    for name in names:
        plane.request("PATCH", f"/api/v1/nodes/{name}", annotate, "application/merge-patch+json")
    deadline = time.monotonic() + seconds
    waiting = names
    while waiting and time.monotonic() < deadline:
        waiting = [name for name in names if not _schedulable(plane.node(name))]
        time.sleep(0.2)
    if waiting:
        raise RuntimeError(f"Nodes {', '.join(waiting)} did not become Ready and untainted within {seconds:g}s")


def _schedulable(node: dict[str, Any]) -> bool:
    conditions = (node.get("status") or {}).get("conditions") or []
    taints = (node.get("spec") or {}).get("taints") or []
    ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
    return ready and not any(t["key"].startswith("node.kubernetes.io/") for t in taints)


def start_tier(directory: Path, hosts: int) -> LabState:
    """The lab with KAI and KWOK running, the lab's stand-in Queue CRD
    replaced by KAI's own (all stopped by the lab's `down`)."""
    binaries = scheduler_binaries()
    state = start(directory, hosts, free_port(), free_port(), free_port())
    plane = state.control_plane(directory)
    # KWOK keeps the Nodes' status, so node lifecycle can lift their not-ready taint.
    terminate(state.pids["kube-controller-manager"])
    state.pids["kube-controller-manager"] = replace(plane, node_lifecycle=True).start_controller_manager()
    for crd in kai_crds(binaries):
        plane.install_crd(crd)
    Scheduler(binaries, directory / "scheduler", SCHEDULER_NAME).start(plane, state.pids)
    state.save(directory)
    hand_to_kwok(plane, [host["name"] for host in state.hosts])
    return state


def tier_settings(state: LabState, org: dict[str, Any], pools: dict[str, str]) -> dict[str, Any]:
    """The lab stack's settings with these node pools and this organisation."""
    settings = copy.deepcopy(stack_settings(state))
    for node in settings[f"{PROJECT}:nodes"]:
        if node["name"] in pools:
            node["nodePool"] = pools[node["name"]]
    settings[f"{PROJECT}:org"] = org
    return settings
