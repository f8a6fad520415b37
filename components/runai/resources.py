"""Run:ai node pools, departments, projects, access rules, assets and
workload policies as Pulumi resources: create, read (so `pulumi refresh` sees what was changed in the
UI), a real diff, update in place (access rules have no update: a change is
a new rule), and delete.

Each resource holds the body the stack wants (`spec`) and the object's id;
`read` puts what the control plane holds back into `spec`, so drift shows as
a diff and the next `up` writes the stack's values again."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import pulumi
from pulumi import dynamic
from pydantic import Field

from components.managed import secret_outputs
from components.runai.api import KINDS, SCOPE_IDS, RunaiApi, account_secret
from components.runai.provider import RunaiInputs, RunaiProvider, observed
from stacks.runai import RunaiConfig

# Assets keep name and scope under `meta` and their settings under `spec`.
ASSETS = ("nfs", "compute", "dockerregistry")
# Registry credentials cannot change in place, and their password is never
# read back: drift is judged on the rest.
WRITE_ONLY = {"dockerregistry": ("spec", "password")}
# Fixed at creation in Run:ai: changing one means a new object (a project
# renamed would drop its workloads; production protects against it).
IMMUTABLE = ("name", "clusterId", "parentId", "requestedNamespace")


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


class RunaiObjectInputs(RunaiInputs):
    kind: str  # one of components.runai.api.KINDS
    spec: dict[str, Any]  # the body the stack wants
    status: dict[str, Any] = Field(default_factory=dict)
    once: str = ""  # what the control plane shows only at creation

    OUTPUTS: ClassVar[tuple[str, ...]] = ("status", "once")


class RunaiObjectProvider(RunaiProvider[RunaiObjectInputs]):
    inputs = RunaiObjectInputs

    def make(self, api: RunaiApi, given: RunaiObjectInputs) -> tuple[str, dict[str, Any]]:
        created = api.create(given.kind, request_body(api, given.kind, given.spec))
        # A new user's temporary password, a new application's secret; empty
        # when the object already existed.
        once = created.get("tempPassword") or account_secret(created) or ""
        return KINDS[given.kind].id_of(created), {"status": created.get("status") or {}, "once": once}

    def fetch(self, api: RunaiApi, id_: str, given: RunaiObjectInputs) -> dict[str, Any] | None:
        return api.get(given.kind, id_)

    def observe(self, given: RunaiObjectInputs, current: dict[str, Any]) -> dict[str, Any]:
        if given.kind == "users":
            current = {**current, "email": current.get("username")}
        spec = observed(given.spec, current)
        if given.kind in WRITE_ONLY:
            section, field = WRITE_ONLY[given.kind]
            spec[section][field] = given.spec[section][field]
        return {"spec": spec, "status": current.get("status") or {}}

    def replaces(self, old: RunaiObjectInputs, new: RunaiObjectInputs) -> list[str]:
        changed = sorted(key for key in {*old.spec, *new.spec} if old.spec.get(key) != new.spec.get(key))
        replaces = [f"spec.{key}" for key in changed if immutable(new.kind, key)]
        return [*replaces, "kind"] if old.kind != new.kind else replaces

    def changed(self, old: RunaiObjectInputs, new: RunaiObjectInputs) -> bool:
        return old.spec != new.spec

    def write(self, id_: str, old: RunaiObjectInputs, new: RunaiObjectInputs) -> dict[str, Any]:
        if self.changed(old, new):
            self.api(new).update(new.kind, id_, update_body(new.kind, new.spec))
        return {}

    def remove(self, api: RunaiApi, id_: str, given: RunaiObjectInputs) -> None:
        api.delete(given.kind, id_)


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


def policy_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """Project ids are numeric strings everywhere but here, where the API
    wants an int32."""
    meta = whole_numbers(meta)
    if "projectId" in meta:
        meta["projectId"] = int(meta["projectId"])
    return dict(meta)


class WorkloadPolicyInputs(RunaiInputs):
    workload: str
    meta: dict[str, Any]
    policy: dict[str, Any]

    def scope(self) -> tuple[str, object]:
        meta = policy_meta(self.meta)
        scope = meta["scope"]
        return scope, meta.get(SCOPE_IDS.get(scope, ""), "")


class WorkloadPolicyProvider(RunaiProvider[WorkloadPolicyInputs]):
    """A workload policy (defaults, rules, imposed assets) for one workload
    type on one scope; a changed scope is a new policy."""

    inputs = WorkloadPolicyInputs

    def make(self, api: RunaiApi, given: WorkloadPolicyInputs) -> tuple[str, dict[str, Any]]:
        api.put_policy(given.workload, {"meta": policy_meta(given.meta), "policy": given.policy})
        scope, scope_id = given.scope()
        return f"{given.workload}/{scope}/{scope_id}", {}

    def fetch(self, api: RunaiApi, id_: str, given: WorkloadPolicyInputs) -> dict[str, Any] | None:
        return api.get_policy(given.workload, *given.scope())

    def observe(self, given: WorkloadPolicyInputs, current: dict[str, Any]) -> dict[str, Any]:
        return {"policy": observed(given.policy, current.get("policy"))}

    def replaces(self, old: WorkloadPolicyInputs, new: WorkloadPolicyInputs) -> list[str]:
        return [key for key in ("workload", "meta") if getattr(old, key) != getattr(new, key)]

    def changed(self, old: WorkloadPolicyInputs, new: WorkloadPolicyInputs) -> bool:
        return old.policy != new.policy

    def write(self, id_: str, old: WorkloadPolicyInputs, new: WorkloadPolicyInputs) -> dict[str, Any]:
        if self.changed(old, new):
            self.api(new).put_policy(new.workload, {"meta": policy_meta(new.meta), "policy": new.policy})
        return {}

    def remove(self, api: RunaiApi, id_: str, given: WorkloadPolicyInputs) -> None:
        api.delete_policy(given.workload, *given.scope())


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


class WorkloadSettingInputs(RunaiInputs):
    key: str
    enabled: bool | None = None  # None: the control plane has no such setting


class WorkloadSettingProvider(RunaiProvider[WorkloadSettingInputs]):
    """One tenant-wide workloads setting (`enablePolicies` is the UI's Admin >
    General settings > Workloads > Policies). Deleting the resource leaves the setting as it is: turning
    policies off under running workloads is a decision for a person."""

    inputs = WorkloadSettingInputs

    def make(self, api: RunaiApi, given: WorkloadSettingInputs) -> tuple[str, dict[str, Any]]:
        api.set_workload_setting(given.key, bool(given.enabled))
        return given.key, {}

    def fetch(self, api: RunaiApi, id_: str, given: WorkloadSettingInputs) -> dict[str, Any] | None:
        return {"enabled": api.workload_setting(given.key)}

    def observe(self, given: WorkloadSettingInputs, current: dict[str, Any]) -> dict[str, Any]:
        return current

    def replaces(self, old: WorkloadSettingInputs, new: WorkloadSettingInputs) -> list[str]:
        return ["key"] if old.key != new.key else []

    def changed(self, old: WorkloadSettingInputs, new: WorkloadSettingInputs) -> bool:
        return old.enabled != new.enabled

    def write(self, id_: str, old: WorkloadSettingInputs, new: WorkloadSettingInputs) -> dict[str, Any]:
        if self.changed(old, new):
            self.api(new).set_workload_setting(new.key, bool(new.enabled))
        return {}

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Left as it is (see above)."""


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
