"""The cluster registered with the Run:ai control plane: its UUID and the
client secret the cluster chart authenticates with (a Pulumi secret). A
rename in the UI is drift that `up` puts back; a registration deleted in the
UI is registered again. A change of runai.version Run:ai cannot upgrade in
one step is refused in preview."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.runai.api import RunaiApi
from components.runai.backend_upgrade import upgrade_check
from components.runai.provider import RunaiInputs, RunaiProvider

COMPARED = ("name", "version", "cluster_url")


class ClusterRegistrationInputs(RunaiInputs):
    name: str
    version: str
    domain: str
    cluster_url: str
    uuid: str = ""
    client_secret: str = ""  # what the cluster chart authenticates with
    chart_repo_url: str | None = None

    LEGACY: ClassVar[Mapping[str, str]] = {
        "clusterUrl": "cluster_url",
        "clientSecret": "client_secret",
        "chartRepoUrl": "chart_repo_url",
    }
    OUTPUTS: ClassVar[tuple[str, ...]] = ("uuid", "client_secret", "chart_repo_url")


def _install_info(api: RunaiApi, given: ClusterRegistrationInputs, uuid: str) -> dict[str, Any]:
    info = api.install_info(uuid, given.version, given.cluster_url)
    return {"uuid": uuid, "client_secret": info["clientSecret"], "chart_repo_url": info.get("chartRepoURL")}


class ClusterRegistrationProvider(RunaiProvider[ClusterRegistrationInputs]):
    inputs = ClusterRegistrationInputs

    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        # The registration keeps the minor the cluster was installed at.
        stored = {"runai_version": (olds or {}).get("version")}
        return dynamic.CheckResult(news, upgrade_check(stored, news.get("version"), "version"))

    def make(self, api: RunaiApi, given: ClusterRegistrationInputs) -> tuple[str, dict[str, Any]]:
        body = {"name": given.name, "version": given.version, "domain": given.domain}
        uuid = str(api.create("clusters", body)["uuid"])
        try:
            return uuid, _install_info(api, given, uuid)
        except Exception:
            # Without its secret the registration is useless, and Pulumi would
            # not know it exists: take it back rather than leave an orphan.
            api.delete("clusters", uuid)
            raise

    def fetch(self, api: RunaiApi, id_: str, given: ClusterRegistrationInputs) -> dict[str, Any] | None:
        return api.get("clusters", id_)

    def observe(self, given: ClusterRegistrationInputs, current: dict[str, Any]) -> dict[str, Any]:
        return {"name": current.get("name")}

    def changed(self, old: ClusterRegistrationInputs, new: ClusterRegistrationInputs) -> bool:
        return any(getattr(old, key) != getattr(new, key) for key in COMPARED)

    def write(self, id_: str, old: ClusterRegistrationInputs, new: ClusterRegistrationInputs) -> dict[str, Any]:
        api = self.api(new)
        if old.name != new.name:
            api.update("clusters", id_, {"name": new.name})
        return _install_info(api, new, id_)

    def remove(self, api: RunaiApi, id_: str, given: ClusterRegistrationInputs) -> None:
        api.delete("clusters", id_)


class ClusterRegistration(dynamic.Resource):
    uuid: pulumi.Output[str]
    client_secret: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        cluster_name: str,
        version: str,
        domain: str,
        cluster_url: str,
        connection: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "name": cluster_name,
            "version": version,
            "domain": domain,
            "cluster_url": cluster_url,
            "connection": pulumi.Output.secret(connection),
            "uuid": None,
            "client_secret": None,
            "chart_repo_url": None,
        }
        super().__init__(
            ClusterRegistrationProvider(), name, props, secret_outputs(opts, "connection", "client_secret")
        )
