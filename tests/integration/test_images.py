"""`make images` on an air-gapped stack: every chart (local archives),
manifest and kustomization the small fixture stack deploys is rendered with
the values the program gives it, by helm and kustomize built from their Go
modules, and every image is listed; a source that cannot be read is named,
never skipped.

The charts and manifests are stand-ins (tests/support/standins.py): what is
real is the program's evaluation, helm's rendering with our values,
kustomize, and the lister."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.charts import merged
from stacks.addons import AddonsConfig
from tests.support.settings import fixture
from tests.support.standins import TRAINING_IMAGE, chart_archive, training_sources
from tools.images import ROOT, list_images

# A Deployment naming its image from the chart's own version.
DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Chart.Name }}}
spec:
  selector: {matchLabels: {app: x}}
  template:
    metadata: {labels: {app: x}}
    spec:
      containers:
        - name: main
          image: standin.example/{{ .Chart.Name }}:{{ .Chart.AppVersion }}
"""
# An operator policy in repository / image / version form, whose driver
# appears only when the stack's values turn it on.
CLUSTER_POLICY = """apiVersion: nvidia.com/v1
kind: ClusterPolicy
metadata: {name: cluster-policy}
spec:
  toolkit: {repository: standin.example/nvidia, image: container-toolkit, version: v1.17.8}
{{- if .Values.driver.enabled }}
  driver: {repository: standin.example/nvidia, image: driver, version: "570"}
{{- end }}
"""


@pytest.fixture(scope="module")
def render_tools() -> Path:
    built = subprocess.run([str(ROOT / "tools/render_tools.sh")], capture_output=True, text=True, check=True)
    return Path(built.stdout.strip().splitlines()[-1])


def air_gapped(directory: Path) -> tuple[dict[str, Any], set[str]]:
    """small with every source local, and the images its stand-ins name."""
    settings = fixture("small")
    charts = directory / "charts"
    expected = {"registry.k8s.io/pause:3.10", TRAINING_IMAGE, "standin.example/nvidia/container-toolkit:v1.17.8"}
    layers: dict[str, Any] = {}
    # Each chart the dev stack installs, as the stack pins it by default.
    defaults = AddonsConfig()
    for key, chart in (
        ("cni.flannel", defaults.cni.flannel),
        ("metallb.chart", defaults.metallb.chart),
        ("ingress.chart", defaults.ingress.chart),
        ("prometheus.chart", defaults.prometheus.chart),
        ("gpuOperator.chart", defaults.gpu_operator.chart),
    ):
        name, version = chart.name, chart.version
        templates: dict[str, Any] = {"deployment.yaml": DEPLOYMENT}
        if name == "gpu-operator":
            templates["clusterpolicy.yaml"] = CLUSTER_POLICY
        chart_archive(charts, name, version, templates)
        expected.add(f"standin.example/{name}:{version}")
        layer, field = key.split(".")
        layers[layer] = {field: {"repository": str(charts), "name": name, "version": version}}
    knative = directory / "knative"
    knative.mkdir()
    for file in ("serving-crds.yaml", "serving-core.yaml", "kourier.yaml"):
        image = f"standin.example/knative/{file.removesuffix('.yaml')}:v1.21.1"
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"containers": [{"image": image}]}}
        (knative / file).write_text(yaml.safe_dump(pod))
        expected.add(image)
    overlay, mpi = training_sources(directory / "training")
    layers["knative"] = {"servingSource": str(knative), "kourierSource": str(knative)}
    layers["training"] = {"source": str(overlay), "mpiOperatorSource": str(mpi)}
    settings["addons"] = merged(settings["addons"], layers)
    return settings, expected


def test_every_image_of_an_air_gapped_stack(render_tools: Path, tmp_path: Path) -> None:
    settings, expected = air_gapped(tmp_path)
    images, unreadable = list_images(settings, "dev", render_tools)
    assert unreadable == []
    # small installs the driver on the hosts: the operator's driver image is not deployed.
    assert images == expected


def test_an_unreadable_source_is_named(render_tools: Path, tmp_path: Path) -> None:
    settings, _ = air_gapped(tmp_path)
    settings["addons"]["cni"]["flannel"]["repository"] = "http://127.0.0.1:9/charts"
    settings["addons"]["knative"]["kourierSource"] = str(tmp_path / "missing")
    images, unreadable = list_images(settings, "dev", render_tools)
    assert [line.split(":")[0] for line in unreadable] == ["gpu-dev-cni-flannel", "gpu-dev-layers-serving-kourier"]
    assert f"standin.example/metallb:{AddonsConfig().metallb.chart.version}" in images
