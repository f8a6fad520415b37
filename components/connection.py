"""How the program reaches the nodes: the SSH connections RemoteScript steps use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi

from stacks.inventory import Node
from stacks.model import StackConfig

FIRST_CONTROL_PLANE = "first-control-plane"


@dataclass(frozen=True)
class NodeAccess:
    """A node's SSH connections as RemoteScript takes them, JSON objects by
    the names steps use (secret: they carry the private key): `alone` names
    the node `node`; `with_first` adds the first control plane. Each is one
    Output made once per node: an Output per script made a large program's
    evaluation slow (the SDK tracks every Output it makes). `host` and
    `first_host` are the plain `user@address:port` for diffs and logs."""

    alone: pulumi.Output[str]
    with_first: pulumi.Output[str]
    host: str
    first_host: str

    @property
    def hosts(self) -> dict[str, str]:
        return {"node": self.host}

    @property
    def hosts_with_first(self) -> dict[str, str]:
        return {"node": self.host, FIRST_CONTROL_PLANE: self.first_host}


def node_access(config: StackConfig, private_key: pulumi.Output[str]) -> dict[str, NodeAccess]:
    """Every node's access, by node name."""
    key = pulumi.Output.secret(private_key)
    first = config.control_planes[0] if config.control_planes else None
    first_target = _target(first, config) if first else None
    access = {}
    for node in config.nodes:
        target = _target(node, config)
        with_first = {"node": target, FIRST_CONTROL_PLANE: first_target} if first_target else {"node": target}
        access[node.name] = NodeAccess(
            alone=key.apply(lambda value, target=target: _json_object({"node": target}, value, config)),
            with_first=key.apply(lambda value, targets=with_first: _json_object(targets, value, config)),
            host=_host(target),
            first_host=_host(first_target) if first_target else "",
        )
    return access


def _target(node: Node, config: StackConfig) -> dict[str, Any]:
    return {
        "host": node.address,
        "port": node.ssh_port or config.ssh.port,
        "user": node.ssh_user or config.ssh.user,
        "host_key": node.host_key,
    }


def _host(target: dict[str, Any]) -> str:
    return f"{target['user']}@{target['host']}:{target['port']}"


def _json_object(targets: dict[str, dict[str, Any]], private_key: str, config: StackConfig) -> str:
    # Written as RemoteScript's members always were (a change of the text
    # alone would show every script as changed in a preview).
    members = (f"{json.dumps(name)}:{json.dumps(_connection(to, private_key, config))}" for name, to in targets.items())
    return "{" + ",".join(members) + "}"


def _connection(target: dict[str, Any], private_key: str, config: StackConfig) -> dict[str, Any]:
    ssh = config.ssh
    bastion = None
    if ssh.bastion:
        bastion = {
            "host": ssh.bastion.host,
            "port": ssh.bastion.port,
            "user": ssh.bastion.user,
            "host_key": ssh.bastion.host_key,
        }
    return {
        "target": target,
        "private_key": private_key,
        "bastion": bastion,
        "connect_timeout": ssh.connect_timeout_seconds,
        "dial_attempts": ssh.dial_attempts,
        "dial_retry_delay": ssh.dial_retry_delay_seconds,
    }
