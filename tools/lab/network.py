"""The lab's own network: a bridge inside a network namespace the lab
creates, this machine on it through one veth pair (to serve the site's
package mirror, registry and S3), and a router address inside the namespace
that forwards nothing, so the machines have a default route that leads
nowhere off this machine."""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass

NAMESPACE = "runai-lab"
BRIDGE = "labbr"
HOST_LINK = "runai-lab0"  # this machine's end of the veth pair
PEER_LINK = "labhost"  # its other end, on the bridge
SUBNET = ipaddress.IPv4Network("10.231.0.0/24")
HOST_ADDRESS = str(SUBNET[1])  # the package mirror, registry and S3 listen here
BALANCER_ADDRESS = str(SUBNET[2])  # the site's load balancer in front of the API servers
ROUTER_ADDRESS = str(SUBNET[254])  # the machines' default route; forwarding stays off
FIRST_MACHINE = 11


def machine_address(index: int) -> str:
    return str(SUBNET[FIRST_MACHINE + index])


def _ip(*args: str, namespace: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", NAMESPACE] if namespace else []
    return subprocess.run([*prefix, "ip", *args], check=check, capture_output=True, text=True)


@dataclass(frozen=True)
class LabNetwork:
    def exists(self) -> bool:
        return NAMESPACE in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()

    def create(self) -> None:
        if self.exists():
            return
        subprocess.run(["ip", "netns", "add", NAMESPACE], check=True)
        _ip("link", "set", "lo", "up", namespace=True)
        _ip("link", "add", BRIDGE, "type", "bridge", namespace=True)
        _ip("addr", "add", f"{ROUTER_ADDRESS}/{SUBNET.prefixlen}", "dev", BRIDGE, namespace=True)
        _ip("link", "set", BRIDGE, "up", namespace=True)
        _ip("link", "add", HOST_LINK, "type", "veth", "peer", "name", PEER_LINK, "netns", NAMESPACE)
        _ip("link", "set", PEER_LINK, "master", BRIDGE, namespace=True)
        _ip("link", "set", PEER_LINK, "up", namespace=True)
        _ip("addr", "add", f"{HOST_ADDRESS}/{SUBNET.prefixlen}", "dev", HOST_LINK)
        _ip("addr", "add", f"{BALANCER_ADDRESS}/{SUBNET.prefixlen}", "dev", HOST_LINK)
        _ip("link", "set", HOST_LINK, "up")
        # The namespace routes for no one: a packet for anywhere else ends here.
        subprocess.run(["ip", "netns", "exec", NAMESPACE, "sysctl", "-qw", "net.ipv4.ip_forward=0"], check=True)

    def delete(self) -> None:
        _ip("link", "del", HOST_LINK, check=False)
        subprocess.run(["ip", "netns", "del", NAMESPACE], check=False, capture_output=True)
