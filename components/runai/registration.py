"""The cluster registered with the Run:ai control plane: its UUID and the
client secret the cluster chart authenticates with (a Pulumi secret). A
rename in the UI is drift that `up` puts back; a registration deleted in the
UI is registered again. A change of runai.version Run:ai cannot upgrade in
one step is refused in preview."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.runai.backend_upgrade import upgrade_check
from components.runai.resources import api_for, credentials_changed

COMPARED = ("name", "version", "clusterUrl")


def _install_info(props: dict[str, Any], uuid: str) -> dict[str, Any]:
    info = api_for(props["connection"]).install_info(uuid, props["version"], props["clusterUrl"])
    return {"uuid": uuid, "clientSecret": info["clientSecret"], "chartRepoUrl": info.get("chartRepoURL")}


class ClusterRegistrationProvider(dynamic.ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        # The registration keeps the minor the cluster was installed at.
        stored = {"runai_version": (olds or {}).get("version")}
        return dynamic.CheckResult(news, upgrade_check(stored, news.get("version"), "version"))

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        body = {"name": props["name"], "version": props["version"], "domain": props["domain"]}
        api = api_for(props["connection"])
        uuid = str(api.create("clusters", body)["uuid"])
        try:
            info = _install_info(props, uuid)
        except Exception:
            # Without its secret the registration is useless, and Pulumi would
            # not know it exists: take it back rather than leave an orphan.
            api.delete("clusters", uuid)
            raise
        return dynamic.CreateResult(id_=uuid, outs={**props, **info})

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        current = api_for(props["connection"]).get("clusters", id_)
        if current is None:
            return dynamic.ReadResult(id_="", outs={})
        return dynamic.ReadResult(id_=id_, outs={**props, "name": current.get("name")})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in COMPARED if olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(changed) or credentials_changed(olds, news), replaces=[])

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if olds.get("name") != news["name"]:
            api_for(news["connection"]).update("clusters", id_, {"name": news["name"]})
        return dynamic.UpdateResult(outs={**news, **_install_info(news, id_)})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        api_for(props["connection"]).delete("clusters", id_)


class ClusterRegistration(dynamic.Resource):
    uuid: pulumi.Output[str]
    clientSecret: pulumi.Output[str]  # noqa: N815 - the provider's property name

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
            "clusterUrl": cluster_url,
            "connection": pulumi.Output.secret(connection),
            "uuid": None,
            "clientSecret": None,
            "chartRepoUrl": None,
        }
        super().__init__(ClusterRegistrationProvider(), name, props, secret_outputs(opts, "connection", "clientSecret"))
