"""Run:ai node pools, departments, projects, access rules, assets and
workload policies as Pulumi resources: create, read (so `pulumi refresh` sees what was changed in the
UI), a real diff, update in place (access rules have no update: a change is
a new rule), and delete.

Each resource holds the body the stack wants (`spec`) and the object's id;
`read` puts what the control plane holds back into `spec`, so drift shows as
a diff and the next `up` writes the stack's values again."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.runai.api import KINDS, SCOPE_IDS, Credentials, RunaiApi, account_secret
from stacks.runai import RunaiConfig

# Assets keep name and scope under `meta` and their settings under `spec`.
ASSETS = ("nfs", "compute", "dockerregistry")
# Registry credentials cannot change in place, and their password is never
# read back: drift is judged on the rest.
WRITE_ONLY = {"dockerregistry": ("spec", "password")}
# Fixed at creation in Run:ai: changing one means a new object (a project
# renamed would drop its workloads; production protects against it).
IMMUTABLE = ("name", "clusterId", "parentId", "requestedNamespace")


def credentials_changed(olds: dict[str, Any], news: dict[str, Any]) -> bool:
    """Whether the credentials stored with an object changed (a rotated
    secret, the stack's application made again). `read` and `delete` get
    only what is stored, so new credentials are stored by an update that
    calls nothing else."""
    return any(olds.get(key) != news[key] for key in ("connection", "admin") if key in news)


def api_for(connection: str) -> RunaiApi:
    return RunaiApi(Credentials(**json.loads(connection)))


def observed(wanted: Any, current: Any, write_only: bool = False) -> Any:
    """The fields the stack manages, as the control plane has them now
    (fields the server adds, such as ids and timestamps, left out). With
    `write_only`, a field the server never returns keeps the stack's value
    instead of reading as removed."""
    if isinstance(wanted, dict) and isinstance(current, dict):
        return {
            key: value if write_only and key not in current else observed(value, current.get(key), write_only)
            for key, value in wanted.items()
        }
    if isinstance(wanted, list) and isinstance(current, list) and len(wanted) == len(current):
        return [observed(w, c, write_only) for w, c in zip(wanted, current, strict=True)]
    return current


def whole_numbers(value: Any) -> Any:
    """Pulumi hands a provider every number as a float; Run:ai's integer
    fields (device counts, ids) refuse 1.0, so whole floats go back to ints."""
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def request_body(api: RunaiApi, kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """What is sent: access rules name their role, Run:ai wants its id."""
    body = whole_numbers(spec)
    if kind == "users":
        # A temporary password the user changes at first sign-in.
        return {**body, "resetPassword": True}
    if kind != "accessrules":
        return dict(body)
    body = {key: value for key, value in body.items() if key != "roleName"}
    return {**body, "roleId": api.role_id(spec["roleName"])}


def immutable(kind: str, key: str) -> bool:
    """Whether a change to `key` needs a new object: access rules and
    registry credentials have no update; an asset's meta holds its scope."""
    if kind in ("accessrules", "dockerregistry", "users", "apps", "serviceaccounts"):
        return True
    return key in IMMUTABLE or (kind in ASSETS and key == "meta")


def update_body(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    spec = whole_numbers(spec)
    if kind in ASSETS:
        return {"meta": {"name": spec["meta"]["name"]}, "spec": spec["spec"]}
    return {key: value for key, value in spec.items() if key not in IMMUTABLE}


class RunaiObjectProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api = api_for(props["connection"])
        kind = props["kind"]
        created = api.create(kind, request_body(api, kind, props["spec"]))
        # What the control plane shows only once (a new user's temporary
        # password, a new application's secret); empty when the object
        # already existed.
        once = created.get("tempPassword") or account_secret(created) or ""
        outs = {**props, "status": created.get("status") or {}, "once": once}
        return dynamic.CreateResult(id_=KINDS[kind].id_of(created), outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        current = api_for(props["connection"]).get(props["kind"], id_)
        if current is None:  # deleted in the UI: the next up creates it again
            return dynamic.ReadResult(id_="", outs={})
        if props["kind"] == "users":
            current = {**current, "email": current.get("username")}
        spec = observed(props["spec"], current)
        if props["kind"] in WRITE_ONLY:
            section, field = WRITE_ONLY[props["kind"]]
            spec[section][field] = props["spec"][section][field]
        return dynamic.ReadResult(id_=id_, outs={**props, "spec": spec, "status": current.get("status") or {}})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old, new = olds.get("spec", {}), news["spec"]
        changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
        replaces = [f"spec.{key}" for key in changed if immutable(news["kind"], key)]
        if olds.get("kind") != news["kind"]:
            replaces.append("kind")
        return dynamic.DiffResult(
            changes=bool(changed) or bool(replaces) or credentials_changed(olds, news),
            replaces=replaces,
            delete_before_replace=bool(replaces),
        )

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if olds.get("spec") != news["spec"]:
            api_for(news["connection"]).update(news["kind"], id_, update_body(news["kind"], news["spec"]))
        return dynamic.UpdateResult(outs={**news, "status": olds.get("status") or {}, "once": olds.get("once", "")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        api_for(props["connection"]).delete(props["kind"], id_)


def runai_connection(
    runai: RunaiConfig, client_secret: pulumi.Output[str], client_id: pulumi.Input[str] | None = None
) -> pulumi.Output[str]:
    """How our providers reach the control plane: URL, application (runai.clientId
    unless the stack made its own), CA (JSON, secret because of the client
    secret)."""
    return pulumi.Output.secret(
        pulumi.Output.all(client_id or runai.client_id, client_secret).apply(
            lambda pair: json.dumps(
                {"url": runai.url, "client_id": pair[0], "client_secret": pair[1], "ca_file": runai.ca_file}
            )
        )
    )


class RunaiObject(dynamic.Resource):
    """One Run:ai object of a kind in components.runai.api.KINDS; its
    `connection`, and `once` (what the control plane shows only at creation),
    are stored as secrets."""

    spec: pulumi.Output[dict[str, Any]]
    status: pulumi.Output[dict[str, Any]]
    once: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        kind: str,
        spec: dict[str, Any],
        connection: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "kind": kind,
            "spec": spec,
            "connection": pulumi.Output.secret(connection),
            "status": None,
            "once": None,
        }
        super().__init__(RunaiObjectProvider(), name, props, secret_outputs(opts, "connection", "once"))


def _scope(meta: dict[str, Any]) -> tuple[str, object]:
    scope = meta["scope"]
    return scope, meta.get(SCOPE_IDS.get(scope, ""), "")


def policy_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Project ids are numeric strings everywhere but here, where the API
    wants an int32."""
    meta = whole_numbers(meta)
    if "projectId" in meta:
        meta["projectId"] = int(meta["projectId"])
    return dict(meta)


class WorkloadPolicyProvider(dynamic.ResourceProvider):
    """A workload policy (defaults, rules, imposed assets) for one workload
    type on one scope; a changed scope is a new policy."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        meta = policy_meta(props["meta"])
        api_for(props["connection"]).put_policy(props["workload"], {"meta": meta, "policy": props["policy"]})
        scope, scope_id = _scope(meta)
        return dynamic.CreateResult(id_=f"{props['workload']}/{scope}/{scope_id}", outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        scope, scope_id = _scope(policy_meta(props["meta"]))
        current = api_for(props["connection"]).get_policy(props["workload"], scope, scope_id)
        if current is None:
            return dynamic.ReadResult(id_="", outs={})
        return dynamic.ReadResult(id_=id_, outs={**props, "policy": observed(props["policy"], current.get("policy"))})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        replaces = [key for key in ("workload", "meta") if olds.get(key) != news.get(key)]
        changed = bool(replaces) or olds.get("policy") != news.get("policy") or credentials_changed(olds, news)
        return dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=bool(replaces))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if olds.get("policy") != news["policy"]:
            body = {"meta": policy_meta(news["meta"]), "policy": news["policy"]}
            api_for(news["connection"]).put_policy(news["workload"], body)
        return dynamic.UpdateResult(outs=news)

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        scope, scope_id = _scope(policy_meta(props["meta"]))
        api_for(props["connection"]).delete_policy(props["workload"], scope, scope_id)


class WorkloadPolicy(dynamic.Resource):
    def __init__(
        self,
        name: str,
        *,
        workload: str,
        meta: dict[str, Any],
        policy: dict[str, Any],
        connection: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret = pulumi.Output.secret(connection)
        props = {"workload": workload, "meta": meta, "policy": policy, "connection": secret}
        super().__init__(WorkloadPolicyProvider(), name, props, secret_outputs(opts, "connection"))


class WorkloadSettingProvider(dynamic.ResourceProvider):
    """One tenant-wide workloads setting (`enablePolicies` is the UI's Admin >
    General settings > Workloads > Policies). Deleting the resource leaves the setting as it is: turning
    policies off under running workloads is a decision for a person."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api_for(props["connection"]).set_workload_setting(props["key"], bool(props["enabled"]))
        return dynamic.CreateResult(id_=props["key"], outs=props)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        current = api_for(props["connection"]).workload_setting(props["key"])
        return dynamic.ReadResult(id_=id_, outs={**props, "enabled": current})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = olds.get("enabled") != news["enabled"] or olds.get("key") != news["key"]
        return dynamic.DiffResult(
            changes=changed or credentials_changed(olds, news),
            replaces=["key"] if olds.get("key") != news["key"] else [],
        )

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if olds.get("enabled") != news["enabled"]:
            api_for(news["connection"]).set_workload_setting(news["key"], bool(news["enabled"]))
        return dynamic.UpdateResult(outs=news)


class WorkloadSetting(dynamic.Resource):
    def __init__(
        self,
        name: str,
        *,
        key: str,
        enabled: bool,
        connection: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"key": key, "enabled": enabled, "connection": pulumi.Output.secret(connection)}
        super().__init__(WorkloadSettingProvider(), name, props, secret_outputs(opts, "connection"))
