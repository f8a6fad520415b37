"""Run:ai versions: only minors with a support matrix are accepted, each
minor's charts come from its source (JFrog up to 2.24, NGC from 2.25), and
an upgrade that moves more than four minors is refused in preview with the
path to take."""

from __future__ import annotations

import json
from typing import Any

import pytest

from components.runai.backend_upgrade import BackendUpgradePrepProvider
from components.runai.registration import ClusterRegistrationProvider
from stacks.compat import accepted, upgrade_path_error
from stacks.load import StackConfigError, check_secrets, parse_stack
from tests.support.programs import registered
from tests.unit.test_runai_install import REGISTRY_TOKEN, RELEASE, SECRETS, install_settings
from tools.mocked_program import run_program


@pytest.mark.parametrize("version", ["2.21", "2.26", "3.0", "2.x"])
def test_a_minor_without_a_matrix_is_refused(version: str) -> None:
    with pytest.raises(StackConfigError, match=rf"runai\.version: '{version}' has no Run:ai support matrix") as error:
        parse_stack(install_settings(version=version))
    assert f"use one of {', '.join(accepted())}" in str(error.value)


@pytest.mark.parametrize(
    ("current", "wanted", "path"),
    [
        ("2.20", "2.24", None),
        ("2.20", "2.25", "go 2.20 -> 2.24 -> 2.25"),
        ("2.19", "2.24", "go 2.19 -> 2.23 -> 2.24"),
        ("2.19", "2.25", "go 2.19 -> 2.23 -> 2.25"),
    ],
)
def test_upgrades_move_at_most_four_minors(current: str, wanted: str, path: str | None) -> None:
    error = upgrade_path_error(current, wanted)
    assert error is None if path is None else path in str(error)


def test_a_downgrade_is_refused() -> None:
    assert "2.24 to 2.20 is a downgrade" in str(upgrade_path_error("2.24", "2.20"))


def test_the_registration_refuses_a_long_upgrade_in_preview() -> None:
    news = {"name": "gpu-prod", "version": "2.25", "domain": "runai.example.com"}
    [failure] = ClusterRegistrationProvider().check({"version": "2.20"}, news).failures
    assert failure.property == "version"
    assert failure.reason == (
        "runai.version: 2.20 to 2.25 moves 5 minors; Run:ai upgrades move at most 4 at a time: "
        "go 2.20 -> 2.24 -> 2.25, running `pulumi up` at each"
    )
    # The default, from 2.20 in one step, and a first install pass.
    assert ClusterRegistrationProvider().check({"version": "2.20"}, {**news, "version": "2.24"}).failures == []
    assert ClusterRegistrationProvider().check({}, news).failures == []


def test_the_control_plane_refuses_a_long_upgrade_in_preview() -> None:
    # A state from before runai_version was kept: the chart's version tells.
    olds = {"namespace": "runai-backend", "chart_version": "2.19.0"}
    news = {"namespace": "runai-backend", "chart_version": "2.24.0", "runai_version": "2.24"}
    [failure] = BackendUpgradePrepProvider().check(olds, news).failures
    assert "go 2.19 -> 2.23 -> 2.24" in failure.reason
    assert BackendUpgradePrepProvider().check({**olds, "runai_version": "2.20"}, news).failures == []


def releases(settings: dict[str, Any], secrets: dict[str, str]) -> dict[str, dict[str, Any]]:
    recorded = registered(settings, secrets=secrets)
    return {r.inputs["name"]: r.inputs for r in recorded.of_type(RELEASE) if r.inputs["name"].startswith("runai-")}


def test_charts_from_jfrog_up_to_2_24() -> None:
    charts = releases(install_settings(), SECRETS)
    assert charts["runai-backend"]["chart"] == "control-plane" and charts["runai-backend"]["version"] == "2.24.0"
    assert "clusterConfig" not in charts["runai-cluster"]["values"]
    assert charts["runai-backend"]["repositoryOpts"] == {"repo": "https://runai.jfrog.io/artifactory/cp-charts-prod"}
    assert charts["runai-cluster"]["repositoryOpts"] == {
        "repo": "https://runai.jfrog.io/artifactory/api/helm/run-ai-charts"
    }


def test_charts_and_images_from_ngc_from_2_25() -> None:
    recorded, _ = run_program(install_settings(version="2.25"), secrets=SECRETS)
    charts = {r.inputs["name"]: r for r in recorded.of_type(RELEASE)}
    # From 2.25 the cluster chart is told the ingress class too.
    cluster_config = charts["runai-cluster"].inputs["values"]["clusterConfig"]
    assert cluster_config == {"global": {"ingress": {"ingressClass": "haproxy"}}}
    for release, chart in (("runai-backend", "control-plane"), ("runai-cluster", "runai-cluster")):
        inputs = charts[release].inputs
        assert inputs["chart"] == chart and inputs["version"] == "2.25.0"
        assert inputs["repositoryOpts"] == {
            "repo": "https://helm.ngc.nvidia.com/nvidia/runai",
            "username": "$oauthtoken",
            "password": REGISTRY_TOKEN,
        }
        assert "repositoryOpts" in charts[release].secret_paths
    [pull] = [
        r for r in recorded.of_type("kubernetes:core/v1:Secret") if r.inputs["metadata"]["name"] == "runai-reg-creds"
    ]
    auths = json.loads(pull.inputs["stringData"][".dockerconfigjson"])["auths"]
    assert auths["nvcr.io"]["username"] == "$oauthtoken" and auths["nvcr.io"]["password"] == REGISTRY_TOKEN


def test_ngc_needs_the_registry_token() -> None:
    config = parse_stack(install_settings(version="2.25"))
    present = {key for key in SECRETS if key != "runaiRegistryToken"}
    with pytest.raises(StackConfigError, match=r"runaiRegistryToken: Run:ai 2\.25's charts come from NGC"):
        check_secrets(config, present=present, secret=present)
    # A mirrored chart needs no key.
    mirror = {"repository": "https://charts.example.com/runai", "name": "control-plane", "version": "2.25.3"}
    settings = install_settings(version="2.25")
    settings["runai"]["controlPlane"]["chart"] = mirror
    settings["runai"]["cluster"]["chart"] = {**mirror, "name": "runai-cluster"}
    check_secrets(parse_stack(settings), present=present, secret=present)
