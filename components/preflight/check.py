"""Preflight: read-only checks of one machine before node preparation."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi

from components.connection import NodeAccess
from components.remote.command import RemoteScript, step
from components.scripts import render_script, script_hash
from stacks.cluster import Bootstrap
from stacks.inventory import Node, Role
from stacks.model import StackConfig

_HERE = Path(__file__).parent
REPORT_PREFIX = "PREFLIGHT "


def preflight_params(node: Node, config: StackConfig) -> dict[str, str]:
    preflight = config.preflight
    minimum = preflight.minimum_for(node)
    return {
        "NODE_NAME": node.name,
        "ROLES": ",".join(role.value for role in node.roles),
        "MIN_CPUS": str(minimum.cpus),
        "MIN_MEMORY_GB": str(minimum.memory_gb),
        "MIN_DISK_GB": str(minimum.disk_gb),
        "DISK_PATH": config.packages.containerd.data_root,
        "PORTS": " ".join(str(port) for port in preflight.ports_for(node)),
        "EXPECTED_GPUS": str(node.gpu.count if node.gpu else 0),
        "GPUS_SIMULATED": str(preflight.gpus_simulated).lower(),
        "DRIVER_ON_HOST": str(Role.GPU_WORKER in node.roles and config.packages.nvidia.install_on_host).lower(),
        "DNS_NAMES": " ".join(preflight.dns_names),
        "NFS_SERVER": preflight.nfs_server or "",
        "IGNORE": " ".join(preflight.ignore),
        "CLUSTER_EXISTS": str(config.cluster.bootstrap is Bootstrap.EXISTING).lower(),
    }


def parse_report(stdout: str) -> dict[str, Any]:
    """The JSON report the script prints on its last PREFLIGHT line."""
    lines = [line for line in stdout.splitlines() if line.startswith(REPORT_PREFIX)]
    if not lines:
        return {"passed": False, "checks": [], "error": "no report in the preflight output"}
    report: dict[str, Any] = json.loads(lines[-1].removeprefix(REPORT_PREFIX))
    return report


class Preflight(pulumi.ComponentResource):
    """Every node's checks, one RemoteScript per node, run when the node is
    first seen, when the checks or their parameters change, or when
    `preflight.rerun` is bumped. A failure stops that node's preparation;
    `reports` holds each node's results.

    One component for all nodes rather than one per node: a component per
    node cost Outputs and registrations while showing nothing in a preview.
    The type token is the one the per-node components had, and a URN names
    its parents' types, not their names, so each script keeps its URN and an
    existing stack runs nothing again."""

    def __init__(
        self,
        name: str,
        nodes: Sequence[Node],
        config: StackConfig,
        access: Mapping[str, NodeAccess],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:preflight:Preflight", name, None, opts)
        self.checks = {node.name: self._check(node, config, access[node.name]) for node in nodes}
        self.reports = {node: check.stdout.apply(parse_report) for node, check in self.checks.items()}
        self.register_outputs({})

    def _check(self, node: Node, config: StackConfig, access: NodeAccess) -> RemoteScript:
        script = render_script(_HERE / "preflight.sh", preflight_params(node, config))
        return RemoteScript(
            f"{node.name}-preflight",
            connections=access.alone,
            hosts=access.hosts,
            create_steps=[step("preflight", "node", script)],
            triggers=[script_hash(script), config.preflight.rerun, node.generation],
            keep_stdout=True,
            secret_stdout=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
