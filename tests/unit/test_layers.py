"""The cluster layers under mocks: values, order, switches, and their
settings refused when wrong."""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.charts import chart_args, merged
from components.layers import LAYERS, dns_records
from stacks.addons import GPU_OPERANDS_LABEL, layers_off
from stacks.base import Chart
from stacks.compat import components
from stacks.load import StackConfigError, parse_stack
from stacks.model import ConfigWarning
from tests.support.programs import registered
from tests.support.settings import fixture
from tools.mocked_program import Recorded, run_program

RELEASE = "kubernetes:helm.sh/v3:Release"


def with_addons(name: str = "small", **layers: Any) -> dict[str, Any]:
    settings = fixture(name)
    settings["addons"] = merged(settings.get("addons", {}), layers)
    return settings


def release(recorded: Recorded, suffix: str) -> Any:
    [found] = [r for r in recorded.of_type(RELEASE) if r.name.endswith(suffix)]
    return found


def test_flannel_on_the_cluster_pod_cidr_and_calico_instead(dev: Recorded) -> None:
    flannel = release(dev, "-cni-flannel")
    assert flannel.inputs["values"]["podCidr"] == "10.244.0.0/16"
    assert flannel.inputs["namespace"] == "kube-flannel"
    recorded, _ = run_program(with_addons(cni={"kind": "calico"}))
    calico = release(recorded, "-cni-calico")
    [pool] = calico.inputs["values"]["installation"]["calicoNetwork"]["ipPools"]
    assert pool["cidr"] == "10.244.0.0/16"
    assert calico.inputs["chart"] == "tigera-operator" and calico.inputs["version"] == "v3.31.7"


def test_metallb_in_l2_mode_with_the_stack_pools(dev: Recorded) -> None:
    chart = release(dev, "-metallb-chart")
    assert chart.inputs["values"]["speaker"]["frr"] == {"enabled": False}
    assert chart.inputs["values"]["frrk8s"] == {"enabled": False}
    [pool] = dev.of_type("kubernetes:metallb.io/v1beta1:IPAddressPool")
    assert pool.inputs["spec"]["addresses"] == ["192.0.2.200-192.0.2.220"]
    [l2] = dev.of_type("kubernetes:metallb.io/v1beta1:L2Advertisement")
    assert l2.inputs["spec"] == {"ipAddressPools": ["services"]}
    assert chart.urn in pool.dependencies and chart.urn in l2.dependencies


def test_ingress_is_the_default_class_on_its_address_with_the_worker_fix(dev: Recorded) -> None:
    ingress = release(dev, "-ingress-haproxy")
    assert ingress.inputs["chart"] == "kubernetes-ingress" and ingress.inputs["namespace"] == "haproxy-controller"
    controller = ingress.inputs["values"]["controller"]
    assert controller["ingressClassResource"] == {"name": "haproxy", "default": True}
    # Threads, not worker processes, and one connection limit (HAProxy's keys).
    assert controller["config"] == {"nbthread": "4", "maxconn": "40960"}
    assert controller["service"]["annotations"] == {"metallb.io/loadBalancerIPs": "192.0.2.200"}
    # The stack's values refine ours key by key.
    recorded, _ = run_program(with_addons(ingress={"values": {"controller": {"replicaCount": 2}}}))
    controller = release(recorded, "-ingress-haproxy").inputs["values"]["controller"]
    assert controller["replicaCount"] == 2 and controller["ingressClassResource"]["default"] is True


def test_ingress_nginx_still_selectable_with_a_warning() -> None:
    settings = with_addons(ingress={"controller": "nginx"})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        from stacks.model import StackConfig

        StackConfig.model_validate(settings)
    assert any("nginx (ingress-nginx) was retired in March 2026" in str(w.message) for w in caught)
    recorded, _ = run_program(settings)
    ingress = release(recorded, "-ingress-nginx")
    assert ingress.inputs["chart"] == "ingress-nginx" and ingress.inputs["namespace"] == "ingress-nginx"
    controller = ingress.inputs["values"]["controller"]
    assert controller["ingressClassResource"] == {"name": "nginx", "default": True}
    assert controller["config"] == {
        "worker-processes": "4",
        "max-worker-connections": "10240",
        "max-worker-open-files": "65536",
    }


def test_layers_wait_for_what_they_need(dev: Recorded) -> None:
    pool = dev.of_type("kubernetes:metallb.io/v1beta1:IPAddressPool")[0].urn
    prometheus = release(dev, "-monitoring-prometheus").urn
    cni = release(dev, "-cni-flannel").urn
    assert pool in release(dev, "-ingress-haproxy").dependencies
    assert pool in dev.by_name("gpu-dev-layers-serving-kourier-address").dependencies
    assert prometheus in release(dev, "-gpu-operator").dependencies
    with_alerts = fixture("small") | {"alerts": {"enabled": True}}
    recorded = registered(with_alerts)
    [rule] = recorded.of_type("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
    assert release(recorded, "-monitoring-prometheus").urn in rule.dependencies
    # Every layer's resources (not only its component) wait for the pod network.
    for resource in (release(dev, "-metallb-chart"), release(dev, "-monitoring-prometheus")):
        assert cni in resource.dependencies, resource.name
    hand_over = dev.by_name("gpu-dev-layers-training-mpijob-crd").urn
    assert hand_over in dev.by_name("gpu-dev-layers-training-training-operator").dependencies
    assert hand_over in dev.by_name("gpu-dev-layers-training-mpi-operator").dependencies


def test_the_layer_list_waits_only_for_layers_before(prod: Recorded) -> None:
    keys = [layer.key for layer in LAYERS]
    assert len(set(keys)) == len(keys)
    for index, layer in enumerate(LAYERS):
        assert set(layer.after) <= set(keys[:index]), layer.key
    # prod installs every layer, each as its own component.
    names = {r.name for r in prod.resources.values()}
    assert {f"gpu-prod-layers-{key}" for key in keys} <= names


def test_every_judged_version_is_a_column_of_the_compatibility_table() -> None:
    # prod installs every layer and every workload type.
    assert set(parse_stack(fixture("production")).component_versions) == set(components())


def test_gpu_operator_driver_follows_node_preparation(dev: Recorded) -> None:
    values = release(dev, "-gpu-operator").inputs["values"]
    # dev installs driver and toolkit on the hosts: the operator must not.
    assert values["driver"] == {"enabled": False} and values["toolkit"] == {"enabled": False}
    assert values["mig"] == {"strategy": "single"}
    assert values["dcgmExporter"] == {"enabled": True, "serviceMonitor": {"enabled": True}}
    settings = with_addons(gpuOperator={"excludeNodes": ["dev-gpu-2"], "migStrategy": "mixed"})
    settings["packages"] = merged(settings["packages"], {"nvidia": {"installOnHost": False}})
    recorded, _ = run_program(settings)
    values = release(recorded, "-gpu-operator").inputs["values"]
    assert values["driver"] == {"enabled": True} and values["mig"] == {"strategy": "mixed"}
    labels = recorded.by_name("gpu-dev-node-roles-dev-gpu-2").inputs["metadata"]["labels"]
    assert labels[GPU_OPERANDS_LABEL] == "false"
    assert GPU_OPERANDS_LABEL not in recorded.by_name("gpu-dev-node-roles-dev-gpu-1").inputs["metadata"]["labels"]


def test_network_operator_rdma_on_the_stack_interfaces(prod: Recorded, dev: Recorded) -> None:
    [policy] = prod.of_type("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy")
    plugin = policy.inputs["spec"]["rdmaSharedDevicePlugin"]
    config = yaml.safe_load(plugin["config"])
    assert config["configList"][0]["selectors"] == {"ifNames": ["ibp12s0", "ibp75s0"], "linkTypes": ["infiniband"]}
    assert "ofedDriver" not in policy.inputs["spec"]  # the hosts' driver is kept
    # one Node Feature Discovery: the GPU Operator's
    assert release(prod, "-network-operator").inputs["values"]["nfd"] == {"enabled": False}
    assert not dev.of_type("kubernetes:mellanox.com/v1alpha1:NicClusterPolicy")


def test_knative_configured_for_runai(prod: Recorded) -> None:
    patches = {
        r.inputs["metadata"]["name"]: r.inputs["data"] for r in prod.of_type("kubernetes:core/v1:ConfigMapPatch")
    }
    assert patches["config-network"] == {"ingress-class": "kourier.ingress.networking.knative.dev"}
    assert patches["config-domain"] == {"runai.example.com": ""}
    assert patches["config-autoscaler"] == {"enable-scale-to-zero": "true"}
    assert patches["config-features"]["kubernetes.podspec-schedulername"] == "enabled"
    files = [r.inputs["file"] for r in prod.of_type("kubernetes:yaml/v2:ConfigFile", under="Serving")]
    assert files == [
        "https://github.com/knative/serving/releases/download/knative-v1.21.1/serving-crds.yaml",
        "https://github.com/knative/serving/releases/download/knative-v1.21.1/serving-core.yaml",
        "https://github.com/knative-extensions/net-kourier/releases/download/knative-v1.21.1/kourier.yaml",
    ]
    [kourier] = prod.of_type("kubernetes:core/v1:ServicePatch")
    assert kourier.inputs["metadata"]["annotations"] == {"metallb.io/loadBalancerIPs": "198.51.100.201"}


def test_training_operator_without_its_mpijob_crd_and_scheme(dev: Recorded) -> None:
    [directory] = dev.of_type("kubernetes:kustomize/v2:Directory")
    kustomization = yaml.safe_load((Path(directory.inputs["directory"]) / "kustomization.yaml").read_text())
    assert kustomization["resources"] == [
        "https://github.com/kubeflow/training-operator.git//manifests/overlays/standalone?ref=v1.8.1"
    ]
    delete, schemes = (yaml.safe_load(p["patch"]) for p in kustomization["patches"])
    assert delete["metadata"] == {"name": "mpijobs.kubeflow.org"} and delete["$patch"] == "delete"
    assert schemes[0]["value"] == ["--enable-scheme=tfjob", "--enable-scheme=pytorchjob", "--enable-scheme=xgboostjob"]
    [mpi] = dev.of_type("kubernetes:yaml/v2:ConfigFile", under="TrainingOperators")
    assert mpi.inputs["file"].endswith("/mpi-operator/v0.6.0/deploy/v2beta1/mpi-operator.yaml")
    hand_over = dev.by_name("gpu-dev-layers-training-mpijob-crd")
    assert hand_over.inputs["acknowledged"] is False and "kubeconfig" in hand_over.secret_paths


def test_crds_holding_user_objects_are_guarded(dev: Recorded) -> None:
    guards = {r.inputs["layer"]: r for r in dev.of_type("pulumi-python:dynamic:Resource") if "layer" in r.inputs}
    assert guards["addons.knative"].inputs["crds"][0] == "services.serving.knative.dev"
    assert guards["addons.training"].inputs["crds"] == [
        "mpijobs.kubeflow.org",
        "tfjobs.kubeflow.org",
        "pytorchjobs.kubeflow.org",
        "xgboostjobs.kubeflow.org",
    ]
    # Deleted before the manifests it depends on; its kubeconfig stays secret.
    crds = dev.by_name("gpu-dev-layers-serving-serving-crds").urn
    assert crds in guards["addons.knative"].dependencies
    assert dev.by_name("gpu-dev-layers-training-mpi-operator").urn in guards["addons.training"].dependencies
    assert all("kubeconfig" in guard.secret_paths for guard in guards.values())


def test_skip_await_reaches_every_chart_and_manifest() -> None:
    recorded, _ = run_program(with_addons(skipAwait=True))
    assert all(r.inputs["skipAwait"] is True for r in recorded.of_type(RELEASE))
    assert all(r.inputs["skipAwait"] is True for r in recorded.of_type("kubernetes:yaml/v2:ConfigFile"))
    assert recorded.of_type("kubernetes:kustomize/v2:Directory")[0].inputs["skipAwait"] is True


def test_every_layer_can_be_off() -> None:
    settings = fixture("small")
    settings["addons"] = layers_off()
    recorded, _ = run_program(settings)
    assert recorded.of_type(RELEASE) == []
    assert recorded.of_type("kubernetes:yaml/v2:ConfigFile") == []
    assert not [r for r in recorded.resources.values() if "ClusterLayers$" in r.urn]


def test_dns_records_for_the_fixed_addresses() -> None:
    config = parse_stack(fixture("production"))
    assert dns_records(config) == [
        {"name": "runai.example.com", "type": "A", "address": "198.51.100.200"},
        {"name": "*.runai.example.com", "type": "A", "address": "198.51.100.201"},
        {"name": "*.inference.runai.example.com", "type": "A", "address": "198.51.100.201"},
    ]


def test_local_chart_archives_for_air_gapped_sites(tmp_path: Path) -> None:
    chart = Chart(repository=f"{tmp_path}/", name="metallb", version="0.16.1")
    assert chart_args(chart) == {"chart": f"{tmp_path}/metallb-0.16.1.tgz"}
    oci = Chart(repository="oci://registry.example.com/charts", name="metallb", version="0.16.1")
    assert chart_args(oci) == {"chart": "oci://registry.example.com/charts/metallb", "version": "0.16.1"}


@pytest.mark.parametrize(
    ("layers", "message"),
    [
        (
            {"metallb": {"subnet": "192.0.2.0/24", "pools": [{"addresses": ["192.0.3.1-192.0.3.9"]}]}},
            "addons.metallb: pools.default: 192.0.3.1-192.0.3.9 is not inside subnet 192.0.2.0/24",
        ),
        (
            {
                "metallb": {
                    "pools": [
                        {"name": "a", "addresses": ["192.0.2.200/29"]},
                        {"name": "b", "addresses": ["192.0.2.205"]},
                    ]
                }
            },
            "pools.b: 192.0.2.205-192.0.2.205 overlaps pool a",
        ),
        (
            {"metallb": {"pools": [{"name": "services", "addresses": ["192.0.2.20-192.0.2.30", "192.0.2.200/29"]}]}},
            "addons.metallb.pools.services: holds nodes[2].address 192.0.2.21",
        ),
        ({"metallb": {"pools": [{"addresses": ["192.0.2.300-192.0.2.301"]}]}}, "is not an IPv4 range"),
        ({"metallb": {"pools": [{"addresses": ["192.0.2.210-192.0.2.200"]}]}}, "the range ends before it starts"),
        (
            {"ingress": {"hostname": "not a host"}},
            "addons.ingress.hostname: 'not a host' is not an IP address or hostname",
        ),
        (
            {"knative": {"domain": "*.bad_domain"}},
            "addons.knative.domain: 'bad_domain' is not an IP address or hostname",
        ),
        ({"prometheus": {"retention": "forever"}}, "addons.prometheus.retention: 'forever' must be a duration"),
        ({"ingress": {"address": "192.0.2.150"}}, "ingress.address: 192.0.2.150 is in none of metallb.pools"),
        ({"knative": {"address": "192.0.2.200"}}, "knative.address: the same as ingress.address"),
        ({"metallb": {"enabled": False}}, "ingress.address: needs metallb"),
        ({"gpuOperator": {"excludeNodes": ["dev-sys-1"]}}, "'dev-sys-1' is not a GPU node of the inventory"),
        ({"training": {"schemes": ["tfjob", "MPIJob"]}}, "mpijob: MPIJobs belong to the MPI Operator"),
        ({"networkOperator": {"enabled": True}}, "interfaces: name the RDMA NICs"),
        ({"cni": {"flannel": {"repository": "charts/", "name": "flannel", "version": "v0.28.9"}}}, "an absolute"),
        ({"prometheus": {"chart": {"repository": "https://x", "name": "k", "version": "latest"}}}, "pin an exact"),
        ({"knative": {"domain": None}, "ingress": {"hostname": None}}, "addons.knative.domain: required"),
        ({"cni": {"kind": "weave"}}, "addons.cni.kind"),
        (
            {"cni": {"flannel": {"repository": "/nonexistent/charts", "name": "flannel", "version": "v0.28.9"}}},
            "'/nonexistent/charts': no such directory",
        ),
    ],
)
def test_bad_layer_settings_are_refused_with_the_key(layers: dict[str, Any], message: str) -> None:
    settings = with_addons(**layers)
    if layers.get("metallb", {}).get("pools") and "subnet" not in layers["metallb"]:
        settings["addons"]["metallb"]["subnet"] = "192.0.2.0/24"
    with pytest.raises(StackConfigError) as error:
        parse_stack(settings)
    assert message in str(error.value)


def test_mixed_mig_needs_mig_capable_gpus() -> None:
    settings = with_addons(gpuOperator={"migStrategy": "mixed"})
    for node in settings["nodes"]:
        if "gpu" in node:
            node["gpu"]["model"] = "RTX-A6000"
    with pytest.raises(StackConfigError, match=r"migStrategy: mixed needs MIG-capable GPUs .* declares RTX-A6000"):
        parse_stack(settings)
    assert parse_stack(with_addons(gpuOperator={"migStrategy": "mixed"}))  # A100s


def test_versions_outside_what_runai_supports() -> None:
    newer = with_addons("production", knative={"version": "1.22.0"})
    newer["runai"]["version"] = "2.25"
    with pytest.raises(StackConfigError, match=r"knative 1.22.0 is outside 1.19 to 1.21, which Run:ai 2.25 supports"):
        parse_stack(newer)
    dev = with_addons(
        gpuOperator={
            "chart": {"repository": "https://helm.ngc.nvidia.com/nvidia", "name": "gpu-operator", "version": "v26.7.0"}
        }
    )
    dev["runai"] = {"version": "2.20"}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConfigWarning)
        from stacks.model import StackConfig

        StackConfig.model_validate(dev)
    assert any("gpuOperator v26.7.0 is outside 22.9 to 25.3" in str(w.message) for w in caught)
    # The KAI path has no Run:ai version to match.
    kai = copy.deepcopy(newer)
    kai["scheduler"] = {"kind": "kai", "kai": {"installChart": False}}
    del kai["org"], kai["runai"]
    parse_stack(kai)
