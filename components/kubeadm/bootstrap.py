"""kubeadm: init on the first control plane, control-plane and worker joins,
and the admin kubeconfig as a secret."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pulumi

from components.connection import NodeAccess
from components.kubeadm.certificates import CertificateRenewal
from components.kubeadm.config import InitParams, render_init, render_join
from components.kubeadm.kube_vip import render_kube_vip
from components.remote.command import RemoteScript, step
from components.scripts import render_script, script_hash
from stacks.cluster import VipProvider
from stacks.inventory import Node, Removal
from stacks.model import StackConfig
from stacks.runai import OIDC_CA_FILE

_HERE = Path(__file__).parent


def _script(name: str, **params: str) -> str:
    return render_script(_HERE / f"{name}.sh", params)


def kube_vip_manifest(config: StackConfig) -> str:
    endpoint = config.cluster.api_endpoint
    if endpoint and endpoint.provider is VipProvider.KUBE_VIP:
        return render_kube_vip(endpoint)
    return ""


def oidc_ca_env(config: StackConfig) -> dict[str, str]:
    """The CA file --oidc-ca-file names, for the control planes to write."""
    if "oidc-ca-file" not in config.oidc_flags or not config.runai.ca_pem:
        return {}
    return {"OIDC_CA_PEM": config.runai.ca_pem, "OIDC_CA_FILE": OIDC_CA_FILE}


def init_config(node: Node, config: StackConfig) -> str:
    cluster = config.cluster
    endpoint = cluster.api_endpoint
    sans = [node.address, *(n.address for n in config.control_planes)]
    if endpoint:
        sans.append(endpoint.host)
    return render_init(
        InitParams(
            kubernetes_version=cluster.kubernetes_version,
            node_name=node.name,
            advertise_address=node.address,
            pod_cidr=str(cluster.pod_cidr),
            service_cidr=str(cluster.service_cidr),
            dns_domain=cluster.dns_domain,
            image_repository=config.packages.image_repository,
            control_plane_endpoint=f"{endpoint.host}:{endpoint.port}" if endpoint else None,
            cert_sans=sans,
            api_server_extra_args=config.api_server_extra_args,
            admission_plugins=config.admission_plugins,
            ignore_preflight_errors=cluster.ignore_preflight_errors,
            kube_proxy=cluster.kube_proxy,
            certificate_days=cluster.certificates.validity_days,
        )
    )


class ControlPlaneInit(pulumi.ComponentResource):
    """`kubeadm init` on the first control plane; exposes the admin kubeconfig
    as a secret Output."""

    kubeconfig: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        node: Node,
        config: StackConfig,
        access: NodeAccess,
        after: Sequence[pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:kubeadm:ControlPlaneInit", name, None, opts)
        on_node = {"connections": access.alone, "hosts": access.hosts}
        script = _script("init", KUBE_VIP_MANIFEST=kube_vip_manifest(config), NODE_GENERATION=str(node.generation))
        self.init = RemoteScript(
            f"{name}-kubeadm-init",
            **on_node,
            create_steps=[step("kubeadm-init", "node", script)],
            # Only `destroy` (or this machine leaving) deletes it, last of all
            # the cluster: the first control plane is reset like the others.
            delete_steps=[step("reset", "node", _script("reset"))],
            triggers=[script_hash(script)],
            # Read only by a first init: it names the version (see RemoteScript).
            env={"KUBEADM_CONFIG": init_config(node, config), **oidc_ca_env(config)},
            # Children do not inherit a component's dependencies: pass them on.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        self.certificates = CertificateRenewal(
            f"{name}-certificates",
            access,
            config.cluster.certificates.renew_within_days,
            config.cluster.certificates.validity_days,
            pulumi.ResourceOptions(parent=self, depends_on=[self.init]),
        )
        reader = RemoteScript(
            f"{name}-admin-kubeconfig",
            **on_node,
            create_steps=[step("read-kubeconfig", "node", _script("read-kubeconfig"))],
            # Read again after a renewal: admin.conf holds a renewed certificate.
            triggers=[node.generation, self.certificates.earliest],
            keep_stdout=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.init]),
        )
        self.kubeconfig = pulumi.Output.secret(reader.stdout)
        self.register_outputs({"kubeconfig": self.kubeconfig})


def _remove(node: Node, only_stale: bool) -> dict[str, Any]:
    script = _script(
        "remove-node",
        NODE_NAME=node.name,
        CONTROL_PLANE=str(node.is_control_plane).lower(),
        ONLY_STALE=str(only_stale).lower(),
    )
    return step("forget-stale" if only_stale else "remove-node", "first-control-plane", script)


def removal_steps(node: Node) -> list[dict[str, Any]]:
    """What leaving the cluster runs: graceful drains and resets over SSH;
    force only talks to the surviving control plane."""
    remove = _remove(node, only_stale=False)
    if node.removal is Removal.FORCE:
        return [remove]
    return [
        step("drain", "first-control-plane", _script("drain", NODE_NAME=node.name, DRAIN_TIMEOUT="600s")),
        step("reset", "node", _script("reset")),
        remove,
    ]


class NodeJoin(pulumi.ComponentResource):
    """`kubeadm join` of each node but the first control plane, one
    RemoteScript per node, with a join command printed fresh on the first
    control plane (new token; for control planes, certificates uploaded
    again). Removing a node from the inventory runs its removal steps. One
    component for all joins, under the type token the per-node components
    had, so each script keeps its URN (see Preflight); `done` registers it
    once the last join is declared."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        access: Mapping[str, NodeAccess],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:kubeadm:NodeJoin", name, None, opts)
        self._config = config
        self._access = access
        self.joined: dict[str, RemoteScript] = {}

    def join(self, node: Node, after: Sequence[pulumi.Resource]) -> RemoteScript:
        config, access = self._config, self._access[node.name]
        control_plane = node.is_control_plane
        join = _script(
            "join",
            KUBE_VIP_MANIFEST=kube_vip_manifest(config) if control_plane else "",
            NODE_GENERATION=str(node.generation),
        )
        template = render_join(
            config.cluster.kubernetes_version,
            node.name,
            node.address if control_plane else None,
            config.cluster.ignore_preflight_errors,
        )
        ask = _script("join-command", CONTROL_PLANE_JOIN=str(control_plane).lower())
        self.joined[node.name] = RemoteScript(
            f"{node.name}-join",
            connections=access.with_first,
            hosts=access.hosts_with_first,
            create_steps=[
                # A reinstalled machine (generation bumped) replaces its old
                # record: Node, and for a control plane its etcd member.
                step("machine-state", "node", _script("machine-state"), capture="MACHINE_STATE"),
                _remove(node, only_stale=True),
                step("join-command", "first-control-plane", ask, capture="JOIN_COMMAND"),
                step("kubeadm-join", "node", join),
            ],
            delete_steps=removal_steps(node),
            triggers=[script_hash(join)],
            # Its API version follows the Kubernetes version: read only by a
            # first join (see RemoteScript).
            env={"JOIN_TEMPLATE": template, **(oidc_ca_env(config) if control_plane else {})},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(after)),
        )
        return self.joined[node.name]

    def done(self) -> None:
        self.register_outputs({})
