"""The step before a Run:ai control-plane upgrade, against a real API server:
the backend's ingress controller Deployment deleted when the chart version
changes, and only then."""

from __future__ import annotations

from typing import Any

from components.runai.backend_upgrade import INGRESS_DEPLOYMENT, BackendUpgradePrepProvider, deployment_path
from tools.lab.control_plane import ControlPlane

NAMESPACE = "runai-backend"


def deployment() -> dict[str, Any]:
    labels = {"app": "ingress"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": INGRESS_DEPLOYMENT, "namespace": NAMESPACE},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "x:1"}]}},
        },
    }


def exists(control: ControlPlane) -> bool:
    names = control.request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")["items"]
    return INGRESS_DEPLOYMENT in {item["metadata"]["name"] for item in names}


def test_the_ingress_deployment_goes_only_when_the_chart_version_changes(
    plane: tuple[ControlPlane, dict[str, int]],
) -> None:
    control, _ = plane
    control.request(
        "POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    )
    control.request("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment())
    provider = BackendUpgradePrepProvider()
    kubeconfig = control.pki.kubeconfig(control.server, "admin")
    olds = {"namespace": NAMESPACE, "chart_version": "2.20.0", "kubeconfig": kubeconfig}

    provider.create(olds)
    same = provider.diff(NAMESPACE, olds, olds)
    assert not same.changes
    assert exists(control)  # neither creating nor an unchanged version touches it

    news = {**olds, "chart_version": "2.20.5"}
    assert provider.diff(NAMESPACE, olds, news).changes
    provider.update(NAMESPACE, olds, news)
    assert not exists(control)
    assert deployment_path(NAMESPACE, INGRESS_DEPLOYMENT).endswith(f"/deployments/{INGRESS_DEPLOYMENT}")
    # A later upgrade of a chart that no longer has one: nothing to delete, no error.
    provider.update(NAMESPACE, news, {**news, "chart_version": "2.21.0"})
