"""Who the stack is on the Run:ai control plane. A fresh control plane has
one account, its first administrator, with a password every install guide
prints. The stack signs in as that administrator only to replace the
printed password with the stack's (runaiAdminPassword) and to make (and look
after) the application (a service account from 2.24) the stack signs in as
for everything else, granted System administrator where the administrator
holds it. Its secret is shown once, at creation, and kept as a Pulumi
secret."""

from __future__ import annotations

import json
from typing import Any

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.runai.api import (
    REFUSED,
    SYSTEM_ADMINISTRATOR,
    AdminCredentials,
    RunaiApi,
    RunaiApiError,
    account_secret,
)
from components.runai.resources import credentials_changed, runai_connection
from stacks.runai import RunaiConfig


def _signed_in(credentials: AdminCredentials) -> RunaiApi | None:
    """The administrator's session; None when the password is refused."""
    try:
        return RunaiApi(credentials)
    except RunaiApiError as error:
        if error.status in REFUSED:
            return None
        raise


def _with_password(props: dict[str, Any], password: str) -> AdminCredentials:
    return AdminCredentials(props["url"], props["username"], password, props.get("caFile"))


def set_password(props: dict[str, Any], known: list[str]) -> None:
    """Make the stack's password the administrator's, signing in with the
    first of `known` (the stack's own, a previous one, the initial one) that
    the control plane accepts."""
    wanted = props["password"]
    for candidate in dict.fromkeys([wanted, *known]):
        api = _signed_in(_with_password(props, candidate))
        if api is None:
            continue
        if candidate != wanted:
            api.change_my_password(candidate, wanted)
            if _signed_in(_with_password(props, wanted)) is None:
                raise RunaiApiError(f"{props['username']}: the new password was not accepted after the change")
        return
    raise RunaiApiError(
        f"runai.admin: none of the passwords the stack knows signs in as {props['username']}; set the "
        "runaiAdminPassword secret to the account's current password"
    )


class AdminPasswordProvider(dynamic.ResourceProvider):
    """The first administrator's password. There is no reading a password
    back, so refresh keeps what the stack set; a password changed in the UI
    shows at the next change, which then asks for the current one. Deleting
    the resource leaves the account as it is: nobody is locked out."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        set_password(props, [props["initialPassword"]])
        return dynamic.CreateResult(id_=props["username"], outs=props)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in ("url", "username", "password") if olds.get(key) != news.get(key)]
        replaces = [key for key in changed if key != "password"]
        return dynamic.DiffResult(changes=bool(changed), replaces=replaces)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        set_password(news, [olds["password"], news["initialPassword"]])
        return dynamic.UpdateResult(outs=news)


class AdminPassword(dynamic.Resource):
    def __init__(
        self,
        name: str,
        *,
        runai: RunaiConfig,
        password: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "url": runai.url,
            "caFile": runai.ca_file,
            "username": runai.admin.email,
            "initialPassword": runai.admin.initial_password,
            "password": pulumi.Output.secret(password),
        }
        super().__init__(AdminPasswordProvider(), name, props, secret_outputs(opts, "password"))


def _admin(props: dict[str, Any]) -> RunaiApi:
    credentials = AdminCredentials(**json.loads(props["admin"]))
    api = _signed_in(credentials)
    if api is None:
        raise RunaiApiError(
            f"runai.admin: the control plane refuses runaiAdminPassword for {credentials.username} (changed in "
            "the UI?); set the secret to the account's current password"
        )
    return api


def _grant(api: RunaiApi, props: dict[str, Any]) -> str:
    """The application's access rule: System administrator where the
    administrator is (the tenant, on a fresh control plane)."""
    scope_type, scope_id = api.admin_scope(json.loads(props["admin"])["username"])
    rule = api.create(
        "accessrules",
        {
            "subjectType": props["subjectType"],
            "subjectId": props["name"],
            "roleId": api.role_id(SYSTEM_ADMINISTRATOR),
            "scopeType": scope_type,
            "scopeId": scope_id,
        },
    )
    return str(rule["id"])


def _kind(props: dict[str, Any]) -> str:
    # States from before service accounts hold an application.
    return str(props.get("kind") or "apps")


class ApplicationProvider(dynamic.ResourceProvider):
    """The application the stack signs in as, and its System administrator
    access rule. `refresh` finds an application deleted in the UI (made
    again by the next `up`) and a rule taken away (given back)."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        api = _admin(props)
        app = api.create(props["kind"], {"name": props["name"]})
        # Found rather than made (a create whose answer was lost): its secret
        # was shown to nobody, so it gets a new one.
        secret = account_secret(app) or api.new_secret(props["kind"], str(app["id"]))
        client_id = app.get("clientId") or props["name"]
        outs = {**props, "clientId": client_id, "secret": secret, "ruleId": _grant(api, props)}
        return dynamic.CreateResult(id_=str(app["id"]), outs=outs)

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        api = _admin(props)
        if api.get(_kind(props), id_) is None:
            return dynamic.ReadResult(id_="", outs={})
        rule = api.get("accessrules", props["ruleId"]) if props.get("ruleId") else None
        return dynamic.ReadResult(id_=id_, outs={**props, "ruleId": props["ruleId"] if rule else ""})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # A new name, or an application becoming a service account (2.24).
        replaces = [key for key, old in (("name", olds.get("name")), ("kind", _kind(olds))) if old != news[key]]
        changed = bool(replaces) or not olds.get("ruleId") or credentials_changed(olds, news)
        return dynamic.DiffResult(changes=changed, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        # Only new administrator credentials to store, unless the rule is gone.
        rule = olds.get("ruleId") or _grant(_admin(news), news)
        outs = {**news, "clientId": olds["clientId"], "secret": olds["secret"], "ruleId": rule}
        return dynamic.UpdateResult(outs=outs)

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        api = _admin(props)
        if props.get("ruleId"):
            api.delete("accessrules", props["ruleId"])
        api.delete(_kind(props), id_)


class Application(dynamic.Resource):
    clientId: pulumi.Output[str]  # noqa: N815 - the provider's property name
    secret: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        runai: RunaiConfig,
        admin_password: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        admin = pulumi.Output.secret(admin_password).apply(
            lambda password: json.dumps(
                {"url": runai.url, "username": runai.admin.email, "password": password, "ca_file": runai.ca_file}
            )
        )
        kind, subject_type = runai.automation
        props = {
            "name": runai.admin.application,
            "kind": kind,
            "subjectType": subject_type,
            "admin": admin,
            "clientId": None,
            "secret": None,
            "ruleId": None,
        }
        super().__init__(ApplicationProvider(), name, props, secret_outputs(opts, "admin", "secret"))

    def connection(self, runai: RunaiConfig) -> pulumi.Output[str]:
        """How the other Run:ai resources reach the control plane: as this
        application."""
        return runai_connection(runai, self.secret, self.clientId)
