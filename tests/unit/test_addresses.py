"""Every address a stack names is its own, and the Run:ai control plane is
reached over TLS: each refusal names the key."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tests.support.settings import fixture


def prod() -> dict[str, Any]:
    return fixture("production")


def refused(settings: dict[str, Any]) -> str:
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    return str(caught.value)


def _endpoint(settings: dict[str, Any], host: str) -> None:
    settings["cluster"]["apiEndpoint"]["host"] = host


def _bastion(settings: dict[str, Any], host: str) -> None:
    settings["ssh"]["bastion"]["host"] = host


def _node(settings: dict[str, Any], address: str) -> None:
    settings["nodes"][4]["address"] = address


@pytest.mark.parametrize(
    ("change", "address", "message"),
    [
        (_endpoint, "198.51.100.11", "cluster.apiEndpoint.host: 198.51.100.11 is also nodes[0].address"),
        (_bastion, "198.51.100.5", "ssh.bastion.host: 198.51.100.5 is also cluster.apiEndpoint.host"),
        (_bastion, "198.51.100.31", "ssh.bastion.host: 198.51.100.31 is also nodes[5].address"),
        (_node, "198.51.100.2", "ssh.bastion.host: 198.51.100.2 is also nodes[4].address"),
        (_endpoint, "198.51.100.230", "addons.metallb.pools.services: holds cluster.apiEndpoint.host 198.51.100.230"),
        (_bastion, "198.51.100.201", "addons.metallb.pools.services: holds ssh.bastion.host 198.51.100.201"),
        (_endpoint, "10.96.0.10", "cluster.apiEndpoint.host: 10.96.0.10 lies inside cluster.serviceCidr"),
        (_bastion, "10.244.3.1", "ssh.bastion.host: 10.244.3.1 lies inside cluster.podCidr"),
    ],
)
def test_colliding_addresses_are_refused(change: Any, address: str, message: str) -> None:
    settings = prod()
    change(settings, address)
    assert message in refused(settings)


def test_hostnames_collide_whatever_their_case() -> None:
    settings = prod()
    settings["nodes"][0]["address"] = "cp-1.example.com"
    _endpoint(settings, "CP-1.example.com")
    assert "cluster.apiEndpoint.host: CP-1.example.com is also nodes[0].address" in refused(settings)


def test_fixed_service_addresses_collide_with_no_machine() -> None:
    settings = prod()
    settings["addons"]["ingress"]["address"] = "198.51.100.230"
    _bastion(settings, "198.51.100.230")
    assert "addons.metallb.pools.services: holds ssh.bastion.host 198.51.100.230" in refused(settings)


@pytest.mark.parametrize("url", ["http://runai.example.com", "runai.example.com", "https://runai.example.com/ui"])
def test_control_plane_url_must_be_https(url: str) -> None:
    settings = prod()
    settings["runai"]["url"] = url
    assert f"runai.url: {url!r}: write the control plane's address as https://<host>" in refused(settings)
