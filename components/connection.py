"""How the program reaches one node: the SSH connection a RemoteScript step uses."""

from __future__ import annotations

from typing import Any

import pulumi

from stacks.inventory import Node
from stacks.model import StackConfig


def connection_for(node: Node, config: StackConfig, private_key: pulumi.Output[str]) -> pulumi.Output[dict[str, Any]]:
    """The node's connection; secret, since it carries the private key."""
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
    return pulumi.Output.secret(private_key).apply(
        lambda key: {
            "target": target,
            "private_key": key,
            "bastion": bastion,
            "connect_timeout": ssh.connect_timeout_seconds,
            "dial_attempts": ssh.dial_attempts,
            "dial_retry_delay": ssh.dial_retry_delay_seconds,
        }
    )
