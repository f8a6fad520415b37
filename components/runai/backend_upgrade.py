"""The step before upgrading Run:ai's control plane: the backend's own
ingress-nginx controller Deployment is deleted, then `helm upgrade` runs
(Helm creates it again when the new chart still has one). A resource that does
nothing when created and deletes that Deployment, if there is one, whenever
the control plane's chart version changes; the release waits for it, so the
preview shows it beside the chart's update. A change of runai.version that
Run:ai cannot upgrade in one step is refused here, in preview."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from components.kube_api import KubeApi
from components.managed import secret_outputs
from components.providers import ProviderInputs
from stacks.compat import upgrade_path_error

INGRESS_DEPLOYMENT = "runai-backend-nginx-ingress-controller"


def deployment_path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"


def installed_minor(props: dict[str, Any]) -> str | None:
    """The Run:ai minor a stored state was installed at (states from before
    `runai_version` was kept carry only the chart's version, x.y.z)."""
    version = props.get("runai_version") or props.get("chart_version")
    return ".".join(str(version).lstrip("v").split(".")[:2]) if version else None


def upgrade_check(olds: dict[str, Any] | None, wanted: str | None, key: str) -> list[dynamic.CheckFailure]:
    """runai.version's path from what `olds` installed to `wanted`."""
    current = installed_minor(olds or {})
    error = upgrade_path_error(current, wanted) if current and wanted else None
    return [dynamic.CheckFailure(key, f"runai.version: {error}")] if error else []


class BackendUpgradePrepInputs(ProviderInputs):
    namespace: str
    chart_version: str  # the control plane's chart
    runai_version: str | None = None  # kept since the upgrade path is checked
    kubeconfig: str  # secret


class BackendUpgradePrepProvider(dynamic.ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        return dynamic.CheckResult(news, upgrade_check(olds, news.get("runai_version"), "runai_version"))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = BackendUpgradePrepInputs.of(props)
        return dynamic.CreateResult(id_=given.namespace, outs=given.props())

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old, new = BackendUpgradePrepInputs.of(olds), BackendUpgradePrepInputs.of(news)
        moved = old.chart_version != new.chart_version or old.namespace != new.namespace
        return dynamic.DiffResult(changes=moved, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        old, new = BackendUpgradePrepInputs.of(olds), BackendUpgradePrepInputs.of(news)
        if old.chart_version != new.chart_version:
            KubeApi(new.kubeconfig).delete(deployment_path(new.namespace, INGRESS_DEPLOYMENT))
        return dynamic.UpdateResult(outs=new.props())


class BackendUpgradePrep(dynamic.Resource):
    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        chart_version: str,
        runai_version: str,
        kubeconfig: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {
            "namespace": namespace,
            "chart_version": chart_version,
            "runai_version": runai_version,
            "kubeconfig": pulumi.Output.secret(kubeconfig),
        }
        super().__init__(BackendUpgradePrepProvider(), name, props, secret_outputs(opts, "kubeconfig"))
