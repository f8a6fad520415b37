"""Bad input is refused before anything is registered, with a message naming
the key and the fix."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from stacks.load import StackConfigError, check_secrets, parse_stack
from tests.support.programs import registered
from tests.support.settings import fixture, refused
from tools.mocked_program import Recorded, run_program, stack_settings
from tools.stackrun import example_stacks


def dev() -> dict[str, Any]:
    return fixture("small")


def test_the_users_example_stacks_load_and_evaluate() -> None:
    # The one unit test that reads the example stacks (the rest read the
    # fixture stacks): whatever an example says, it validates and the
    # program builds from it. tests/integration previews them for real.
    assert example_stacks()
    for stack in example_stacks():
        settings = stack_settings(stack)
        parse_stack(settings)
        assert registered(settings, stack=stack).of_type("runai-cluster:cluster:Cluster"), stack


def test_fixture_stacks_are_valid() -> None:
    assert len(parse_stack(fixture("small")).nodes) == 4
    prod = parse_stack(fixture("production"))
    assert len(prod.control_planes) == 3
    assert sum(n.gpu.count for n in prod.nodes if n.gpu) == 64


def test_duplicate_node_names() -> None:
    settings = dev()
    settings["nodes"][1]["name"] = settings["nodes"][0]["name"]
    assert "nodes[].name: dev-cp-1 used by more than one node" in refused(settings)


def test_duplicate_addresses() -> None:
    settings = dev()
    settings["nodes"][2]["address"] = settings["nodes"][3]["address"]
    assert "nodes[].address: 192.0.2.22 used by more than one node" in refused(settings)


@pytest.mark.parametrize("address", ["300.1.1.1", "not a host", "-bad-.example", ""])
def test_address_not_ip_or_hostname(address: str) -> None:
    settings = dev()
    settings["nodes"][3]["address"] = address
    message = refused(settings)
    assert "nodes[3].address:" in message
    assert "is not an IP address or hostname" in message


def test_hostname_address_accepted() -> None:
    settings = dev()
    settings["nodes"][3]["address"] = "gpu-2.lab.example.org"
    assert parse_stack(settings).nodes[3].address == "gpu-2.lab.example.org"


def test_no_control_plane() -> None:
    settings = dev()
    settings["nodes"][0]["roles"] = ["system"]
    assert "nodes: no node has the 'control-plane' role" in refused(settings)


def test_even_control_planes_is_an_error_in_prod() -> None:
    settings = fixture("production")
    settings["nodes"][3]["roles"] = ["control-plane"]
    planes = "4 control planes (prod-cp-1, prod-cp-2, prod-cp-3, prod-sys-1)"
    assert f"{planes}; etcd needs an odd number" in refused(settings)


def test_even_control_planes_is_a_warning_in_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warned.append(message))
    settings = dev()
    settings["nodes"][1]["roles"] = ["control-plane"]
    settings["cluster"]["apiEndpoint"] = {"host": "192.0.2.5"}
    config = parse_stack(settings)
    assert len(config.control_planes) == 2
    assert any("2 control planes (dev-cp-1, dev-sys-1); etcd needs an odd number" in w for w in warned)


def test_several_control_planes_need_an_endpoint() -> None:
    settings = dev()
    for node in settings["nodes"][1:2]:
        node["roles"] = ["control-plane"]
    settings["nodes"].append({"name": "dev-cp-3", "address": "192.0.2.13", "roles": ["control-plane"]})
    assert "cluster.apiEndpoint: required with more than one control plane" in refused(settings)


def test_gpu_count_without_gpu_worker_role() -> None:
    settings = dev()
    settings["nodes"][1]["gpu"] = {"model": "L40S", "count": 4}
    message = refused(settings)
    assert "nodes[1]: gpu is set but roles lack 'gpu-worker'" in message


def test_gpu_worker_without_gpus() -> None:
    settings = dev()
    del settings["nodes"][2]["gpu"]
    assert "nodes[2]: role 'gpu-worker' needs gpu: {model, count}" in refused(settings)


def test_unknown_role() -> None:
    settings = dev()
    settings["nodes"][1]["roles"] = ["storage"]
    message = refused(settings)
    assert "nodes[1].roles[0]:" in message
    assert "'control-plane', 'system', 'gpu-worker' or 'cpu-worker'" in message


@pytest.mark.parametrize("version", ["v1.32.8", "1.32", "1.32.x", "latest"])
def test_malformed_kubernetes_version(version: str) -> None:
    settings = dev()
    settings["cluster"]["kubernetesVersion"] = version
    assert f"cluster.kubernetesVersion: {version!r} is not a Kubernetes version like 1.32.8" in refused(settings)


def test_too_old_kubernetes_version() -> None:
    settings = dev()
    settings["cluster"]["kubernetesVersion"] = "1.23.5"
    assert "cluster.kubernetesVersion: '1.23.5' is too old" in refused(settings)


def test_overlapping_pod_and_service_cidrs() -> None:
    settings = dev()
    settings["cluster"]["serviceCidr"] = "10.244.128.0/20"
    assert "cluster: podCidr 10.244.0.0/16 overlaps serviceCidr 10.244.128.0/20" in refused(settings)


def test_unknown_setting_is_named() -> None:
    settings = dev()
    settings["cluster"]["kubernetesVersoin"] = "1.32.8"
    assert "cluster.kubernetesVersoin: unknown setting" in refused(settings)


def test_missing_ssh_key_in_kubeadm_mode() -> None:
    config = parse_stack(dev())
    with pytest.raises(StackConfigError, match=r"sshPrivateKey: required in kubeadm mode; set it with `pulumi config"):
        check_secrets(config, present=set(), secret=set())


def test_ssh_key_must_be_secret() -> None:
    config = parse_stack(dev())
    with pytest.raises(StackConfigError, match="sshPrivateKey: must be a secret"):
        check_secrets(config, present={"sshPrivateKey"}, secret=set())


def test_existing_mode_needs_kubeconfig_not_ssh() -> None:
    settings = dev()
    settings["cluster"]["bootstrap"] = "existing"
    config = parse_stack(settings)
    check_secrets(config, present={"kubeconfig"}, secret={"kubeconfig"})
    with pytest.raises(StackConfigError, match="kubeconfig: required with bootstrap: existing"):
        check_secrets(config, present=set(), secret=set())


def test_bad_input_registers_nothing() -> None:
    settings = dev()
    settings["nodes"][0]["roles"] = ["system"]
    recorded = Recorded()
    with pytest.raises(Exception, match="no node has the 'control-plane' role") as caught:
        run_program(settings, recorded=recorded)
    assert "invalid stack config for 'dev'" in str(caught.value)
    assert recorded.resources == {}


def test_all_errors_reported_at_once() -> None:
    settings = dev()
    settings["nodes"][1]["address"] = "300.0.0.1"
    settings["cluster"]["kubernetesVersion"] = "v1"
    message = refused(settings)
    assert "nodes[1].address" in message
    assert "cluster.kubernetesVersion" in message


def test_required_host_keys() -> None:
    settings = dev()
    settings["ssh"]["requireHostKeys"] = True
    assert "nodes[0].hostKey: required because ssh.requireHostKeys is true" in refused(settings)


@pytest.mark.parametrize(
    ("section", "value", "message"),
    [
        ("upgrade", {"drainTimeout": 5}, "cluster.upgrade.drainTimeout: Input should be greater than or equal to 30"),
        ("upgrade", {"readyTimeout": 10}, "cluster.upgrade.readyTimeout: Input should be greater than or equal to 30"),
        (
            "certificates",
            {"renewWithinDays": 400},
            "cluster.certificates: renewWithinDays 400 is not less than validityDays 365: every `up` would renew",
        ),
    ],
)
def test_bad_lifecycle_settings_are_named(section: str, value: dict[str, int], message: str) -> None:
    settings = dev()
    settings["cluster"][section] = value
    assert message in refused(settings)
