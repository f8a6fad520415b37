"""API-server settings kept in step on running control planes.

kubeadm reads `apiServer` settings only at init and join. A
`ControlPlaneSettings` resource per control plane runs nothing when created
(init and join applied the settings) and re-applies them when the flags, the
admission plugins, the OIDC CA or the certificate lifetime change (components/
kubeadm/control-plane-settings.sh: the cluster's kubeadm-config keeps them for
joins and upgrades), one control plane at a time, after the version
rollout of the control planes. The rendered configuration travels in `env`:
a version bump alone is the upgrade's business."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pulumi

from components.connection import NodeAccess
from components.kubeadm.bootstrap import init_config, oidc_ca_env
from components.remote.command import RemoteScript, step
from components.scripts import render_script, script_hash
from stacks.cluster import DEFAULT_CERTIFICATE_DAYS
from stacks.model import StackConfig

_SCRIPT = Path(__file__).parent / "control-plane-settings.sh"
LIVEZ_TIMEOUT = 300


def settings_hash(config: StackConfig, ca: dict[str, str]) -> str:
    """The settings whose change re-applies them (`ca`: oidc_ca_env's)."""
    wanted = {
        "args": config.api_server_extra_args,
        "plugins": config.admission_plugins,
        "ca": ca.get("OIDC_CA_PEM", ""),
    }
    # Only when set: a new key would re-apply every existing stack's settings.
    days = config.cluster.certificates.validity_days
    if days != DEFAULT_CERTIFICATE_DAYS:
        wanted["certificate_days"] = days
    return script_hash(json.dumps(wanted, sort_keys=True))


class ControlPlaneSettings(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        config: StackConfig,
        access: dict[str, NodeAccess],
        after: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:kubeadm:ControlPlaneSettings", name, None, opts)
        first = config.control_planes[0]
        ca = oidc_ca_env(config)
        trigger = settings_hash(config, ca)
        previous = list(after)
        for node in config.control_planes:
            script = render_script(_SCRIPT, {"FIRST": str(node is first).lower(), "LIVEZ_TIMEOUT": str(LIVEZ_TIMEOUT)})
            previous = [
                RemoteScript(
                    f"{node.name}-api-server-settings",
                    connections=access[node.name].alone,
                    hosts=access[node.name].hosts,
                    create_steps=[step("api-server-settings", "node", script)],
                    triggers=[trigger],
                    env={"KUBEADM_CONFIG": init_config(node, config), **ca},
                    run_on_create=False,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
                )
            ]
        self.done = previous
        self.register_outputs({})
