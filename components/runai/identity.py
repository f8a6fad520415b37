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
from collections.abc import Mapping
from typing import Any, ClassVar

import pulumi
from pulumi import dynamic

from components.managed import secret_outputs
from components.providers import ProviderInputs
from components.runai.api import (
    REFUSED,
    SYSTEM_ADMINISTRATOR,
    AdminCredentials,
    RunaiApi,
    RunaiApiError,
    account_secret,
)
from components.runai.provider import RunaiInputs, RunaiProvider
from components.runai.resources import runai_connection
from stacks.runai import RunaiConfig


def _signed_in(credentials: AdminCredentials) -> RunaiApi | None:
    """The administrator's session; None when the password is refused."""
    try:
        return RunaiApi(credentials)
    except RunaiApiError as error:
        if error.status in REFUSED:
            return None
        raise


class AdminPasswordInputs(ProviderInputs):
    url: str
    ca_file: str | None = None
    username: str
    initial_password: str  # the one every install guide prints
    password: str  # the stack's (runaiAdminPassword)

    LEGACY: ClassVar[Mapping[str, str]] = {"caFile": "ca_file", "initialPassword": "initial_password"}

    def signing_in_with(self, password: str) -> AdminCredentials:
        return AdminCredentials(self.url, self.username, password, self.ca_file)


def set_password(given: AdminPasswordInputs, known: list[str]) -> None:
    """Make the stack's password the administrator's, signing in with the
    first of `known` (the stack's own, a previous one, the initial one) that
    the control plane accepts."""
    wanted = given.password
    for candidate in dict.fromkeys([wanted, *known]):
        api = _signed_in(given.signing_in_with(candidate))
        if api is None:
            continue
        if candidate != wanted:
            api.change_my_password(candidate, wanted)
            if _signed_in(given.signing_in_with(wanted)) is None:
                raise RunaiApiError(f"{given.username}: the new password was not accepted after the change")
        return
    raise RunaiApiError(
        f"runai.admin: none of the passwords the stack knows signs in as {given.username}; set the "
        "runaiAdminPassword secret to the account's current password"
    )


class AdminPasswordProvider(dynamic.ResourceProvider):
    """The first administrator's password. There is no reading a password
    back, so refresh keeps what the stack set; a password changed in the UI
    shows at the next change, which then asks for the current one. Deleting
    the resource leaves the account as it is: nobody is locked out."""

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = AdminPasswordInputs.of(props)
        set_password(given, [given.initial_password])
        return dynamic.CreateResult(id_=given.username, outs=given.props())

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old, new = AdminPasswordInputs.of(olds), AdminPasswordInputs.of(news)
        changed = [key for key in ("url", "username", "password") if getattr(old, key) != getattr(new, key)]
        replaces = [key for key in changed if key != "password"]
        changes = bool(changed) or AdminPasswordInputs.stored_before_the_convention(olds)
        return dynamic.DiffResult(changes=changes, replaces=replaces)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        old, new = AdminPasswordInputs.of(olds), AdminPasswordInputs.of(news)
        set_password(new, [old.password, new.initial_password])
        return dynamic.UpdateResult(outs=new.props())


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
            "ca_file": runai.ca_file,
            "username": runai.admin.email,
            "initial_password": runai.admin.initial_password,
            "password": pulumi.Output.secret(password),
        }
        super().__init__(AdminPasswordProvider(), name, props, secret_outputs(opts, "password"))


class ApplicationInputs(RunaiInputs):
    name: str
    kind: str = "apps"  # states from before service accounts hold an application
    subject_type: str = "app"  # what access rules call the kind
    admin: str  # the administrator's sign-in (JSON: url, username, password, ca_file; secret)
    client_id: str = ""
    secret: str = ""
    rule_id: str = ""  # its System administrator access rule

    LEGACY: ClassVar[Mapping[str, str]] = {"subjectType": "subject_type", "clientId": "client_id", "ruleId": "rule_id"}
    OUTPUTS: ClassVar[tuple[str, ...]] = ("client_id", "secret", "rule_id")

    def credentials(self) -> str:
        return self.admin


def _grant(api: RunaiApi, given: ApplicationInputs) -> str:
    """The application's access rule: System administrator where the
    administrator is (the tenant, on a fresh control plane)."""
    scope_type, scope_id = api.admin_scope(json.loads(given.admin)["username"])
    rule = api.create(
        "accessrules",
        {
            "subjectType": given.subject_type,
            "subjectId": given.name,
            "roleId": api.role_id(SYSTEM_ADMINISTRATOR),
            "scopeType": scope_type,
            "scopeId": scope_id,
        },
    )
    return str(rule["id"])


class ApplicationProvider(RunaiProvider[ApplicationInputs]):
    """The application the stack signs in as, and its System administrator
    access rule, made by the first administrator. `refresh` finds an
    application deleted in the UI (made again by the next `up`) and a rule
    taken away (given back)."""

    inputs = ApplicationInputs

    def api(self, given: ApplicationInputs) -> RunaiApi:
        credentials = AdminCredentials(**json.loads(given.admin))
        api = _signed_in(credentials)
        if api is None:
            raise RunaiApiError(
                f"runai.admin: the control plane refuses runaiAdminPassword for {credentials.username} (changed in "
                "the UI?); set the secret to the account's current password"
            )
        return api

    def make(self, api: RunaiApi, given: ApplicationInputs) -> tuple[str, dict[str, Any]]:
        app = api.create(given.kind, {"name": given.name})
        # Found rather than made (a create whose answer was lost): its secret
        # was shown to nobody, so it gets a new one.
        secret = account_secret(app) or api.new_secret(given.kind, str(app["id"]))
        made = {"client_id": app.get("clientId") or given.name, "secret": secret, "rule_id": _grant(api, given)}
        return str(app["id"]), made

    def fetch(self, api: RunaiApi, id_: str, given: ApplicationInputs) -> dict[str, Any] | None:
        if api.get(given.kind, id_) is None:
            return None
        return {"rule": api.get("accessrules", given.rule_id) if given.rule_id else None}

    def observe(self, given: ApplicationInputs, current: dict[str, Any]) -> dict[str, Any]:
        return {"rule_id": given.rule_id if current["rule"] else ""}

    def replaces(self, old: ApplicationInputs, new: ApplicationInputs) -> list[str]:
        # A new name, or an application becoming a service account (2.24).
        return [key for key in ("name", "kind") if getattr(old, key) != getattr(new, key)]

    def changed(self, old: ApplicationInputs, new: ApplicationInputs) -> bool:
        return not old.rule_id

    def write(self, id_: str, old: ApplicationInputs, new: ApplicationInputs) -> dict[str, Any]:
        # Only new administrator credentials to store, unless the rule is gone.
        return {"rule_id": old.rule_id or _grant(self.api(new), new)}

    def remove(self, api: RunaiApi, id_: str, given: ApplicationInputs) -> None:
        if given.rule_id:
            api.delete("accessrules", given.rule_id)
        api.delete(given.kind, id_)


class Application(dynamic.Resource):
    client_id: pulumi.Output[str]
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
            "subject_type": subject_type,
            "admin": admin,
            "client_id": None,
            "secret": None,
            "rule_id": None,
        }
        super().__init__(ApplicationProvider(), name, props, secret_outputs(opts, "admin", "secret"))

    def connection(self, runai: RunaiConfig) -> pulumi.Output[str]:
        """How the other Run:ai resources reach the control plane: as this
        application."""
        return runai_connection(runai, self.secret, self.client_id)
