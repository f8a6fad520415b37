"""tools.contracts against a small upstream repository made here: the key
paths, open maps, sub-charts and CRDs it records, and the pinned things it
reports missing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from stacks.base import Chart
from tools import contracts
from tools.contracts import ChartSource, Upstream, chart_contract, check, installed_crds, locate

CRD = """apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  versions:
  - name: v1
    schema:
      openAPIV3Schema:
        properties:
          spec:
            properties:
              size: {type: integer}
              match: {type: string, enum: [=, "!="]}
"""


def git(directory: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(directory), *args], check=True, capture_output=True)


@pytest.fixture()
def upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Upstream:
    repo = tmp_path / "example+charts"
    chart = repo / "charts" / "widget"
    (chart / "crds").mkdir(parents=True)
    (chart / "charts" / "helper").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "name: widget\nappVersion: 2.0.1\ndependencies:\n- {name: helper, condition: helper.enabled}\n"
        "- {name: remote, repository: https://example.com}\n"
    )
    (chart / "values.yaml").write_text(
        "image: {repository: example/widget, tag: ''}\nannotations: {}\nports: []\n"
        "rules:\n- {name: a, port: 1}\nhelper: {enabled: false}\n"
    )
    (chart / "values.schema.json").write_text(
        json.dumps(
            {
                "properties": {"extra": {"type": "object"}, "mode": {"$ref": "#/definitions/mode"}},
                "definitions": {"mode": {"properties": {"fast": {}}}},
            }
        )
    )
    (chart / "charts" / "helper" / "values.yaml").write_text("replicas: 1\n")
    (chart / "charts" / "helper" / "crds").mkdir()
    (chart / "charts" / "helper" / "crds" / "gadgets.yaml").write_text(CRD.replace("widgets", "gadgets"))
    (chart / "crds" / "widgets.yaml").write_text(CRD)
    (chart / "templates").mkdir()
    (chart / "templates" / "values.yaml").symlink_to("../values.yaml")
    git(repo.parent, "init", "-q", str(repo))
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "chart")
    git(repo, "tag", "widget-1.2.3")
    monkeypatch.setitem(
        contracts.CHARTS,
        "widget",
        ChartSource("example/charts", "charts/widget", "widget-{version}", {"spec": "crds/widgets.yaml"}),
    )
    return Upstream(tmp_path)


@pytest.mark.process
def test_a_chart_contract_from_the_tagged_source(upstream: Upstream) -> None:
    contract = chart_contract(upstream, "widget", "1.2.3")
    assert contract["source"] == "https://github.com/example/charts/tree/widget-1.2.3/charts/widget"
    assert contract["appVersion"] == "2.0.1"
    assert {"image.repository", "rules[].port", "helper.replicas", "mode.fast", "spec.size"} <= set(contract["paths"])
    # Empty maps and lists, a schema object without properties, and a sub-chart this repository lacks.
    assert contract["open"] == ["annotations", "extra", "ports[]", "remote"]
    assert contract["crds"] == {"gadgets.example.com": "helper.enabled", "widgets.example.com": ""}
    assert installed_crds(contract, {}) == {"widgets.example.com"}
    assert installed_crds(contract, {"helper": {"enabled": True}}) == {"widgets.example.com", "gadgets.example.com"}
    assert upstream.read("example/charts", "widget-1.2.3", "charts/widget/templates/values.yaml").startswith("image:")


@pytest.mark.process
def test_a_missing_tag_is_named(upstream: Upstream) -> None:
    with pytest.raises(LookupError, match=r"chart widget 9\.9\.9: no tag widget-9\.9\.9 in github\.com/example/charts"):
        chart_contract(upstream, "widget", "9.9.9")


@pytest.mark.process
def test_check_reports_what_upstream_lacks(upstream: Upstream, monkeypatch: pytest.MonkeyPatch) -> None:
    pinned = {
        "charts": [Chart(repository="https://example.com/charts", name="widget", version="1.2.4")],
        "manifests": [
            "https://raw.githubusercontent.com/example/charts/widget-1.2.3/charts/widget/Chart.yaml",
            "https://raw.githubusercontent.com/example/charts/widget-1.2.3/deploy/missing.yaml",
            "https://example.com/manifest.yaml",
        ],
        "rdma": ("1.2.3", "example/widget:1.0"),
        "tagged_images": [("example/charts", "example/widget:widget-1.2.3")],
        "knative": "1.0.0",
    }
    monkeypatch.setattr(contracts, "_pinned", lambda: pinned)
    monkeypatch.setitem(
        contracts.CHARTS, "network-operator", ChartSource("example/charts", "charts/widget", "widget-{version}")
    )
    assert check(upstream) == [
        "chart widget 1.2.4: no tag widget-1.2.4 in github.com/example/charts",
        "manifest: no deploy/missing.yaml at widget-1.2.3 in github.com/example/charts",
        "manifest https://example.com/manifest.yaml: not a GitHub release, raw file or repository, so not checked",
        "image example/widget:1.0: not among the images network-operator 1.2.3 lists ()",
    ]


@pytest.mark.parametrize(
    ("url", "where"),
    [
        (
            "https://github.com/knative/serving/releases/download/knative-v1.16.0/serving-core.yaml",
            ("knative/serving", "knative-v1.16.0", None),
        ),
        (
            "https://github.com/kubeflow/training-operator.git//manifests/overlays/standalone?ref=v1.8.1",
            ("kubeflow/training-operator", "v1.8.1", "manifests/overlays/standalone"),
        ),
        (
            "https://raw.githubusercontent.com/rancher/local-path-provisioner/v0.0.37/deploy/local-path-storage.yaml",
            ("rancher/local-path-provisioner", "v0.0.37", "deploy/local-path-storage.yaml"),
        ),
        ("/srv/mirror/kourier.yaml", None),
    ],
)
def test_where_a_pinned_url_lives(url: str, where: tuple[str, str, str | None] | None) -> None:
    assert locate(url) == where
