"""API-server settings re-applied on running control planes: the resources
under mocks and control-plane-settings.sh under stand-ins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_node import FakeNode
from tests.support.settings import fixture
from tools.mocked_program import Recorded, run_program

SCRIPT = Path(__file__).resolve().parents[2] / "components" / "kubeadm" / "control-plane-settings.sh"
CA = "-----BEGIN CERTIFICATE-----\nMIIBorgca\n-----END CERTIFICATE-----"

KUBEADM = r"""
cat "${!#}" >>"$FAKE_STATE/kubeadm-configs"
"""
KUBECTL = r"""
[[ -f $FAKE_STATE/live ]]
"""


def dynamic_inputs(recorded: Recorded) -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in recorded.of_type("pulumi-python:dynamic:Resource")}


def test_settings_follow_the_control_plane_rollout_one_at_a_time(prod: Recorded) -> None:
    first = prod.by_name("prod-cp-1-api-server-settings")
    assert prod.by_name("prod-cp-3-kubernetes-upgrade").urn in first.dependencies
    assert first.urn in prod.by_name("prod-cp-2-api-server-settings").dependencies
    assert first.inputs["run_on_create"] is False
    assert "FIRST=true" in first.inputs["create_steps"][0]["script"]
    assert "name: oidc-issuer-url" in first.inputs["env"]["KUBEADM_CONFIG"]


def test_a_flag_change_reapplies_settings_and_nothing_else(prod: Recorded) -> None:
    before = dynamic_inputs(prod)
    changed_settings = fixture("production")
    changed_settings["cluster"]["apiServerExtraArgs"] = {"audit-log-maxage": "30"}
    after = dynamic_inputs(run_program(changed_settings, stack="prod")[0])

    def without_env(inputs: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in inputs.items() if k != "env"}

    changed = sorted(name for name in after if without_env(after[name]) != without_env(before[name]))
    assert changed == [f"prod-cp-{i}-api-server-settings" for i in (1, 2, 3)]
    assert "audit-log-maxage" in after["prod-cp-2-api-server-settings"]["env"]["KUBEADM_CONFIG"]


def test_the_organisations_ca_reaches_the_api_server(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_text(CA)
    settings = fixture("production")
    settings["runai"]["caFile"] = str(ca_file)
    inputs = dynamic_inputs(run_program(settings, stack="prod")[0])
    init = inputs["prod-cp-1-kubeadm-init"]["env"]
    assert init["OIDC_CA_PEM"] == CA and init["OIDC_CA_FILE"] == "/etc/kubernetes/pki/oidc-ca.crt"
    assert "value: /etc/kubernetes/pki/oidc-ca.crt" in init["KUBEADM_CONFIG"]
    assert inputs["prod-cp-2-join"]["env"]["OIDC_CA_PEM"] == CA
    assert "OIDC_CA_PEM" not in inputs["prod-gpu-1-join"]["env"]
    assert inputs["prod-cp-3-api-server-settings"]["env"]["OIDC_CA_PEM"] == CA


@pytest.mark.process
def test_the_script_uploads_once_rewrites_the_api_server_and_waits(tmp_path: Path) -> None:
    node = FakeNode(tmp_path)
    node.stand_in("kubeadm", KUBEADM)
    node.stand_in("kubectl", KUBECTL)
    (node.root / "etc" / "kubernetes").mkdir(parents=True)
    (node.state / "live").touch()
    env = {
        "KUBEADM_CONFIG": "kind: ClusterConfiguration\n",
        "OIDC_CA_PEM": CA,
        "OIDC_CA_FILE": "/etc/kubernetes/pki/oidc-ca.crt",
    }
    first = node.run(SCRIPT, {"FIRST": "true", "LIVEZ_TIMEOUT": "10"}, env)
    assert first.called("kubeadm", "init", "phase", "upload-config", "kubeadm")
    assert first.called("kubeadm", "init", "phase", "control-plane", "apiserver")
    assert node.read("/etc/kubernetes/pki/oidc-ca.crt") == CA + "\n"
    assert (node.state / "kubeadm-configs").read_text().count("kind: ClusterConfiguration") == 2
    assert not list((node.root / "etc" / "kubernetes").glob("kubeadm-settings.*"))
    other = node.run(SCRIPT, {"FIRST": "false", "LIVEZ_TIMEOUT": "10"}, env)
    assert not other.called("kubeadm", "init", "phase", "upload-config")
    (node.state / "live").unlink()
    node.stand_in("sleep", "true\n")
    down = node.execute(SCRIPT, {"FIRST": "false", "LIVEZ_TIMEOUT": "10"}, env)
    assert down.returncode != 0 and "not live 10s after its new manifest" in down.stderr
