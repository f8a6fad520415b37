"""Every values key and ConfigMap key the program writes exists in the
upstream version we pin (stacks/contracts/, made by tools.contracts from the
upstream source at the pinned tag): Helm, Knative and ingress-nginx ignore a
key they do not know, so a wrong one would be a silent no-op."""

from __future__ import annotations

from typing import Any

import pytest

from components.charts import merged
from stacks.load import StackConfigError, parse_stack
from tests.support.settings import fixture
from tests.unit.test_kai import kai_settings
from tools.contracts import installed_crds, load, unknown_paths
from tools.mocked_program import Recorded, Registration, run_program

RELEASE = "kubernetes:helm.sh/v3:Release"
# Charts from Run:ai's own registry: no public source to record.
NO_PUBLIC_SOURCE = {"control-plane", "runai-cluster"}
# Values maps our program fills that the chart passes through whole, by chart.
FREE_FORM: dict[str, tuple[str, ...]] = {}


def variant() -> dict[str, Any]:
    """small with the other choices: Calico, the Network Operator, ingress-nginx,
    the GPU Operator's own driver, an NFS provisioner that deletes."""
    settings = fixture("small")
    settings["addons"] = merged(
        settings["addons"],
        {
            "cni": {"kind": "calico"},
            "networkOperator": {"enabled": True, "fabric": "roce", "interfaces": ["ens1f0"]},
            "ingress": {"controller": "nginx"},
        },
    )
    settings["packages"] = merged(settings["packages"], {"nvidia": {"installOnHost": False}})
    settings["storage"] = {
        "provisioner": "nfs",
        "nfs": {"server": "192.0.2.50", "path": "/exports/volumes", "reclaimPolicy": "Delete"},
    }
    return settings


@pytest.fixture(scope="module")
def variants(dev: Recorded, prod: Recorded) -> dict[str, Recorded]:
    other, _ = run_program(variant())
    kai, _ = run_program(kai_settings(gpuSharing=True))
    return {"dev": dev, "prod": prod, "variant": other, "kai": kai}


def releases(recorded: Recorded) -> list[Registration]:
    return recorded.of_type(RELEASE)


def release(recorded: Recorded, suffix: str) -> Registration:
    [found] = [r for r in releases(recorded) if r.name.endswith(suffix)]
    return found


def chart_name(registration: Registration) -> str:
    """The chart's name (an OCI reference ends in it)."""
    return str(registration.inputs["chart"]).rsplit("/", 1)[-1]


def chart_contract(registration: Registration) -> dict[str, Any]:
    return load("charts", chart_name(registration), registration.inputs["version"])


def test_every_values_key_is_in_the_pinned_chart(variants: dict[str, Recorded]) -> None:
    checked = set()
    for stack, recorded in variants.items():
        for registration in releases(recorded):
            chart = chart_name(registration)
            if chart in NO_PUBLIC_SOURCE:
                continue
            unknown = unknown_paths(
                registration.inputs["values"], chart_contract(registration), FREE_FORM.get(chart, ())
            )
            assert not unknown, f"{stack}: {chart} {registration.inputs['version']} has no {', '.join(unknown)}"
            checked.add(chart)
    assert {
        "flannel",
        "tigera-operator",
        "ingress-nginx",
        "kubernetes-ingress",
        "network-operator",
        "nfs-subdir-external-provisioner",
        "kai-scheduler",
    } <= checked


def test_contract_finds_a_key_the_chart_lacks() -> None:
    contract = load("charts", "ingress-nginx", "4.15.1")
    values = {"controller": {"metrics": {"enabled": True, "scrape": True}, "config": {"anything": "1"}}}
    # controller.config is an open map (its keys are checked against the controller's).
    assert unknown_paths(values, contract) == ["controller.metrics.scrape"]


# Each controller's ConfigMap contract, by chart.
CONTROLLER_MAPS = {
    "ingress-nginx": ("ingress-nginx-controller", "ingress-nginx-controller"),
    "kubernetes-ingress": ("haproxy-ingress-controller", "haproxy-kubernetes-ingress"),
}


def ingress_release(recorded: Recorded) -> Registration:
    [found] = [r for r in releases(recorded) if r.inputs["chart"] in CONTROLLER_MAPS]
    return found


def test_ingress_controller_reads_every_config_key(variants: dict[str, Recorded]) -> None:
    seen = set()
    for recorded in variants.values():
        ingress = ingress_release(recorded)
        component, config_map = CONTROLLER_MAPS[ingress.inputs["chart"]]
        known = load("configmaps", component, chart_contract(ingress)["appVersion"])["configMaps"][config_map]
        config = ingress.inputs["values"]["controller"]["config"]
        assert config and sorted(set(config) - set(known)) == []
        seen.add(ingress.inputs["chart"])
    assert seen == set(CONTROLLER_MAPS)


def test_knative_reads_every_config_key(variants: dict[str, Recorded]) -> None:
    config = parse_stack(fixture("production"))
    contract = load("configmaps", "knative-serving", config.addons.knative.version)
    for recorded in variants.values():
        for patch in recorded.of_type("kubernetes:core/v1:ConfigMapPatch"):
            name = patch.inputs["metadata"]["name"]
            if name in contract["open"]:
                continue
            assert sorted(set(patch.inputs["data"]) - set(contract["configMaps"][name])) == [], name


def test_knative_gives_routes_one_domain(prod: Recorded) -> None:
    # Of several domains with equal selectors Knative takes the alphabetically
    # first: the inference domain must be the only default.
    [domains] = [
        p for p in prod.of_type("kubernetes:core/v1:ConfigMapPatch") if p.inputs["metadata"]["name"] == "config-domain"
    ]
    assert domains.inputs["data"] == {"runai.example.com": ""}


def test_calico_chart_brings_the_crds_of_what_it_creates(variants: dict[str, Recorded]) -> None:
    calico = release(variants["variant"], "-cni-calico")
    assert "installation" in calico.inputs["values"]  # rendered into an Installation
    assert "installations.operator.tigera.io" in installed_crds(chart_contract(calico), calico.inputs["values"])


def test_calico_versions_without_crds_are_refused() -> None:
    settings = variant()
    settings["addons"]["cni"]["calico"] = {
        "repository": "https://docs.tigera.io/calico/charts",
        "name": "tigera-operator",
        "version": "v3.32.1",
    }
    with pytest.raises(StackConfigError, match=r"addons\.cni: calico\.version: v3\.32\.1 ships no CRDs"):
        parse_stack(settings)


def test_network_operator_waits_for_the_crds_of_its_node_feature_rule(variants: dict[str, Recorded]) -> None:
    for stack in ("prod", "variant"):
        recorded = variants[stack]
        network = release(recorded, "-network-operator")
        values = network.inputs["values"]
        if installed_crds(chart_contract(network), values) >= {"nodefeaturerules.nfd.k8s-sigs.io"}:
            continue
        providers = [
            r.urn
            for r in releases(recorded)
            if r.inputs["chart"] not in NO_PUBLIC_SOURCE
            and "nodefeaturerules.nfd.k8s-sigs.io" in installed_crds(chart_contract(r), r.inputs["values"])
        ]
        assert set(providers) & set(network.dependencies), f"{stack}: nothing it waits for installs NFD's CRDs"


def test_rdma_plugin_is_an_image_the_release_lists(variants: dict[str, Recorded]) -> None:
    recorded = variants["prod"]
    [policy] = recorded.of_type("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy")
    plugin = policy.inputs["spec"]["rdmaSharedDevicePlugin"]
    image = f"{plugin['repository']}/{plugin['image']}:{plugin['version']}"
    assert image in chart_contract(release(recorded, "-network-operator"))["images"]


def test_gpudirect_with_the_network_operator(variants: dict[str, Recorded]) -> None:
    driver = release(variants["variant"], "-gpu-operator").inputs["values"]["driver"]
    assert driver == {"enabled": True, "rdma": {"enabled": True, "useHostMofed": True}}
    assert "rdma" not in release(variants["dev"], "-gpu-operator").inputs["values"]["driver"]


def test_archive_on_delete_only_where_claims_are_deleted(variants: dict[str, Recorded]) -> None:
    retained = release(variants["prod"], "-storage-nfs").inputs["values"]["storageClass"]
    assert retained["reclaimPolicy"] == "Retain" and "archiveOnDelete" not in retained
    deleted = release(variants["variant"], "-storage-nfs").inputs["values"]["storageClass"]
    assert deleted["reclaimPolicy"] == "Delete" and deleted["archiveOnDelete"] is True


def test_ingress_metrics_are_scraped(variants: dict[str, Recorded]) -> None:
    for stack, scraping in (("dev", {"serviceMonitor": {"enabled": True}}), ("variant", None)):
        recorded = variants[stack]
        ingress = ingress_release(recorded)
        controller = ingress.inputs["values"]["controller"]
        if scraping is None:  # ingress-nginx's switches
            assert controller["metrics"] == {"enabled": True, "serviceMonitor": {"enabled": True}}
        else:
            assert {key: controller[key] for key in scraping} == scraping
        # Its ServiceMonitor's CRD comes with Prometheus.
        assert release(recorded, "-monitoring-prometheus").urn in ingress.dependencies
