"""NodePrep: make one machine ready for kubeadm (and for GPUs on GPU workers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi

from components.connection import NodeAccess
from components.remote.command import RemoteScript, step
from components.scripts import render_script, script_hash
from stacks.inventory import Node, Role
from stacks.model import StackConfig

_HERE = Path(__file__).parent


def kubernetes_version(config: StackConfig) -> dict[str, str]:
    """The Kubernetes version, as the node scripts take it."""
    return {
        "KUBERNETES_VERSION": config.cluster.kubernetes_version,
        "KUBERNETES_MINOR": config.cluster.minor,
        "KUBERNETES_PACKAGE_REVISION": config.packages.kubernetes_package_revision,
    }


def kubernetes_source(config: StackConfig) -> dict[str, str]:
    """The package repository of the stack's Kubernetes minor, and its key."""
    minor = config.cluster.minor
    return {
        "KUBERNETES_APT_REPO": config.packages.kubernetes_repo(minor),
        "KUBERNETES_APT_KEY_URL": config.packages.kubernetes_key(minor),
    }


def kubernetes_env(config: StackConfig) -> dict[str, str]:
    """The Kubernetes version a machine is prepared at, and its package
    source: exported to the scripts rather than rendered into them, so that a
    version bump re-runs no preparation (the upgrade rollout moves members)."""
    return {**kubernetes_version(config), **kubernetes_source(config)}


def node_prep_params(node: Node, config: StackConfig) -> dict[str, str]:
    packages = config.packages
    containerd = packages.containerd
    registry = packages.private_registry
    return {
        "CONTAINERD_PACKAGE": containerd.package,
        "CONTAINERD_VERSION": containerd.version,
        "CONTAINERD_APT_REPO": containerd.apt_repo,
        "CONTAINERD_APT_KEY_URL": containerd.apt_key_url,
        "CONTAINERD_CONFIG_VERSION": str(int(containerd.config_version)),
        "CONTAINERD_DATA_ROOT": containerd.data_root,
        "SANDBOX_IMAGE": containerd.sandbox_image,
        "CONTAINERD_CRI_SETTINGS": containerd.cri_settings_toml(),
        "REGISTRY_MIRRORS": "\n".join(
            f"{host}={','.join(mirrors)}" for host, mirrors in sorted(packages.registry_mirrors.items())
        ),
        "REGISTRY_CA_HOST": registry.host if registry and registry.ca_cert else "",
        "REGISTRY_CA_PEM": registry.ca_cert if registry else "",
        "NODE_GENERATION": str(node.generation),
    }


def driver_env(config: StackConfig) -> dict[str, str]:
    """The host driver a GPU machine is prepared with: exported, like the
    Kubernetes version, so that a new driver re-runs no preparation (members
    get it through the driver rollout, node by node, drained)."""
    nvidia = config.packages.nvidia
    return {"NVIDIA_DRIVER_PACKAGE": nvidia.driver_package, "NVIDIA_DRIVER_VERSION": nvidia.driver_version}


def gpu_host_params(config: StackConfig) -> dict[str, str]:
    nvidia = config.packages.nvidia
    return {
        "NVIDIA_CONTAINER_TOOLKIT_VERSION": nvidia.container_toolkit_version,
        "NVIDIA_APT_REPO": nvidia.apt_repo,
        "NVIDIA_APT_KEY_URL": nvidia.apt_key_url,
        "CONTAINERD_CONFIG_VERSION": str(int(config.packages.containerd.config_version)),
    }


def prep_scripts(node: Node, config: StackConfig) -> list[tuple[str, str]]:
    """(name, rendered script) pairs this node runs, in order."""
    scripts = [("node-prep", render_script(_HERE / "node-prep.sh", node_prep_params(node, config)))]
    if Role.GPU_WORKER in node.roles and config.packages.nvidia.install_on_host:
        scripts.append(("gpu-host", render_script(_HERE / "gpu-host.sh", gpu_host_params(config))))
    return scripts


class NodePrep(pulumi.ComponentResource):
    """Every node's preparation, one RemoteScript per node, in parallel: swap,
    kernel settings, containerd, kubelet/kubeadm/kubectl pinned and held, NFS
    client; driver and container toolkit on GPU workers. One component for
    all nodes, under the type token the per-node components had, so each
    script keeps its URN (see Preflight)."""

    def __init__(
        self,
        name: str,
        nodes: Sequence[Node],
        config: StackConfig,
        access: Mapping[str, NodeAccess],
        after: Mapping[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:nodes:NodePrep", name, None, opts)
        env = {**kubernetes_env(config), **driver_env(config)}  # the same for every node
        self.prepared = {
            node.name: self._prep(node, config, access[node.name], env, after.get(node.name)) for node in nodes
        }
        self.register_outputs({})

    def _prep(
        self, node: Node, config: StackConfig, access: NodeAccess, env: dict[str, str], after: pulumi.Resource | None
    ) -> RemoteScript:
        scripts = prep_scripts(node, config)
        return RemoteScript(
            f"{node.name}-prep",
            connections=access.alone,
            hosts=access.hosts,
            create_steps=[step(script_name, "node", text) for script_name, text in scripts],
            triggers=[script_hash(text) for _, text in scripts],
            env=env,
            # After this node's preflight: a failed check stops its changes.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[after] if after else []),
        )
