"""How the program reaches one node: the SSH connection a RemoteScript step uses."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi

from stacks.inventory import Node
from stacks.model import StackConfig


@dataclass(frozen=True)
class NodeAccess:
    """A node's SSH connection as JSON (secret: it carries the private key)
    and its plain `user@address:port` for diffs and logs. JSON, because the
    SDK lifts every leaf of a dict Output into an Output of its own."""

    connection: pulumi.Output[str]
    host: str


def connection_for(node: Node, config: StackConfig, private_key: pulumi.Output[str]) -> NodeAccess:
    ssh = config.ssh
    bastion = None
    if ssh.bastion:
        bastion = {
            "host": ssh.bastion.host,
            "port": ssh.bastion.port,
            "user": ssh.bastion.user,
            "host_key": ssh.bastion.host_key,
        }
    target = {
        "host": node.address,
        "port": node.ssh_port or ssh.port,
        "user": node.ssh_user or ssh.user,
        "host_key": node.host_key,
    }
    connection = pulumi.Output.secret(private_key).apply(
        lambda key: json.dumps(
            {
                "target": target,
                "private_key": key,
                "bastion": bastion,
                "connect_timeout": ssh.connect_timeout_seconds,
                "dial_attempts": ssh.dial_attempts,
                "dial_retry_delay": ssh.dial_retry_delay_seconds,
            }
        )
    )
    return NodeAccess(connection, f"{target['user']}@{target['host']}:{target['port']}")
