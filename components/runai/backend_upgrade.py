"""Seed 001's step before upgrading Run:ai's control plane: the backend's own
ingress-nginx controller Deployment is deleted, then `helm upgrade` runs
(Helm creates it again when the new chart still has one). A resource that does
nothing when created and deletes that Deployment, if there is one, whenever
the control plane's chart version changes; the release waits for it, so the
preview shows it beside the chart's update."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from components.kube_api import KubeApi
from components.managed import secret_outputs

INGRESS_DEPLOYMENT = "runai-backend-nginx-ingress-controller"


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


class BackendUpgradePrepProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        return dynamic.CreateResult(id_=props["namespace"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        moved = olds.get("chart_version") != news["chart_version"] or olds.get("namespace") != news["namespace"]
        return dynamic.DiffResult(changes=moved, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if olds.get("chart_version") != news["chart_version"]:
            KubeApi(news["kubeconfig"]).delete(deployment_path(news["namespace"], INGRESS_DEPLOYMENT))
        return dynamic.UpdateResult(outs=news)


class BackendUpgradePrep(dynamic.Resource):
    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        chart_version: str,
        kubeconfig: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {"namespace": namespace, "chart_version": chart_version, "kubeconfig": pulumi.Output.secret(kubeconfig)}
        super().__init__(BackendUpgradePrepProvider(), name, props, secret_outputs(opts, "kubeconfig"))
