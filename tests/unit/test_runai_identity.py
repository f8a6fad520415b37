"""Who the stack is on Run:ai: the first administrator's printed password
replaced by the stack's, and the stack's own application (System
administrator where the administrator is), against the fake control plane;
the graph that puts them between the control plane and everything that
calls it; and the settings that say who the stack is, refused when unclear."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from components.runai.api import AdminCredentials, Credentials, RunaiApi, RunaiApiError
from components.runai.identity import AdminPasswordProvider, ApplicationProvider
from components.runai.resources import RunaiObjectProvider
from stacks.load import StackConfigError, check_secrets, parse_stack
from tests.support.fake_runai import FakeRunai, connection_to, fake_runai
from tests.unit.test_runai_install import SECRETS, install_settings
from tests.unit.test_runai_org import runai_settings
from tools.mocked_program import run_program

OURS = "stack-admin-password-93ab"


# Where each control plane keeps the stack's account: an application up to
# 2.23, a service account from 2.24 (the applications API deprecated).
AUTOMATION = {"2.20": ("apps", "app", "secret"), "2.24": ("serviceaccounts", "service-account", "clientSecret")}


@pytest.fixture(params=sorted(AUTOMATION))
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, FakeRunai]]:
    with fake_runai(FakeRunai(version=request.param)) as running:
        yield running


def password_props(url: str, password: str = OURS) -> dict[str, Any]:
    initial = "Abcd!234"
    return {"url": url, "ca_file": None, "username": "test@run.ai", "initial_password": initial, "password": password}


def app_props(url: str, fake: FakeRunai, name: str = "runai-cluster-stack") -> dict[str, Any]:
    admin = {"url": url, "username": fake.admin_email, "password": fake.admin_password, "ca_file": None}
    kind, subject_type, _ = AUTOMATION[fake.version]
    return {"name": name, "kind": kind, "subject_type": subject_type, "admin": json.dumps(admin)}


def test_the_printed_password_is_replaced_by_the_stacks(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    provider = AdminPasswordProvider()
    provider.create(password_props(url))
    assert fake.admin_password == OURS
    # Already the stack's: nothing to change (an `up` after a lost state).
    changes = len([r for r in fake.requests if r[1] == "/api/v1/me/password"])
    provider.create(password_props(url))
    assert len([r for r in fake.requests if r[1] == "/api/v1/me/password"]) == changes
    # A new secret value: signed in with the old one, changed to the new.
    provider.update("test@run.ai", password_props(url), password_props(url, "next-password-1c2d"))
    assert fake.admin_password == "next-password-1c2d"
    diff = provider.diff("test@run.ai", password_props(url), password_props(url, "other"))
    assert diff.changes and not diff.replaces


def test_a_password_changed_elsewhere_is_a_clear_error(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    fake.admin_password = "changed-in-the-ui-4e5f"
    with pytest.raises(RunaiApiError) as refused:
        AdminPasswordProvider().create(password_props(url))
    message = str(refused.value)
    assert "runaiAdminPassword" in message and "test@run.ai" in message
    assert OURS not in message and "Abcd!234" not in message
    assert fake.admin_password == "changed-in-the-ui-4e5f"


def test_an_administrators_session_survives_a_revoked_token(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    admin = RunaiApi(AdminCredentials(url, fake.admin_email, fake.admin_password), sleep=lambda _: None)
    fake.revoke_tokens()
    assert admin.admin_scope(fake.admin_email) == ("tenant", "1001")
    grants = [r for r in fake.requests if r[1] == "/api/v1/token"]
    assert [status for *_, status in grants] == [200, 200]


def test_the_stacks_application_is_system_administrator_on_the_tenant(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    provider = ApplicationProvider()
    created = provider.create(app_props(url, fake))
    kind, subject_type, secret = AUTOMATION[fake.version]
    [app] = fake.store[kind].values()
    assert created.id == app["id"] and created.outs["secret"] == app[secret]
    assert created.outs["client_id"] == "runai-cluster-stack"
    rule = fake.store["accessRules"][created.outs["rule_id"]]
    assert (rule["subjectType"], rule["subjectId"], rule["roleName"]) == (
        subject_type,
        "runai-cluster-stack",
        "System administrator",
    )
    assert (rule["scopeType"], rule["scopeId"]) == ("tenant", "1001")
    # The application signs in with its own secret and does the rest.
    as_app = RunaiApi(Credentials(url, created.outs["client_id"], created.outs["secret"]))
    assert as_app.list("departments") == []

    # Its rule taken away in the UI: refresh sees it, the next up gives it back.
    del fake.store["accessRules"][created.outs["rule_id"]]
    read = provider.read(created.id, created.outs)
    assert read.outs["rule_id"] == "" and provider.diff(created.id, read.outs, app_props(url, fake)).changes
    updated = provider.update(created.id, read.outs, app_props(url, fake))
    assert updated.outs["rule_id"] in fake.store["accessRules"]
    assert updated.outs["secret"] == created.outs["secret"]
    assert not provider.diff(created.id, updated.outs, app_props(url, fake)).changes
    assert provider.diff(created.id, updated.outs, app_props(url, fake, "renamed")).replaces == ["name"]

    provider.delete(created.id, updated.outs)
    assert fake.store[kind] == {}
    assert [r["subjectId"] for r in fake.store["accessRules"].values()] == ["test@run.ai"]
    # Deleted in the UI: refresh drops it from the state, up makes it again.
    assert provider.read(created.id, updated.outs).id == ""


def test_an_application_found_rather_than_made_gets_a_new_secret(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    admin = RunaiApi(AdminCredentials(url, fake.admin_email, fake.admin_password))
    kind, _, secret = AUTOMATION[fake.version]
    earlier = admin.create(kind, {"name": "runai-cluster-stack"})  # a create whose answer was lost
    created = ApplicationProvider().create(app_props(url, fake))
    assert created.id == earlier["id"] and created.outs["secret"] not in ("", earlier[secret])
    assert fake.store[kind][created.id][secret] == created.outs["secret"]


def test_an_application_becomes_a_service_account_with_2_24(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    props = app_props(url, fake)
    before = {key: value for key, value in props.items() if key not in ("kind", "subject_type")}  # older state
    diff = ApplicationProvider().diff("id", {**before, "rule_id": "7"}, props)
    assert diff.replaces == ([] if fake.version == "2.20" else ["kind"]) and diff.delete_before_replace


def test_the_identity_sits_between_the_control_plane_and_its_callers() -> None:
    secrets = {key: value for key, value in SECRETS.items() if key != "runaiClientSecret"}
    settings = install_settings()
    del settings["runai"]["clientId"]
    recorded, cluster = run_program(settings, secrets={**secrets, "runaiAdminPassword": OURS})
    dynamic = {r.name.removeprefix("gpu-dev-runai-"): r for r in recorded.of_type("pulumi-python:dynamic:Resource")}
    password, application = dynamic["admin-password"], dynamic["application"]
    [backend] = [r for r in recorded.of_type("kubernetes:helm.sh/v3:Release") if r.inputs["name"] == "runai-backend"]
    assert backend.urn in password.dependencies and password.urn in application.dependencies
    assert application.urn in dynamic["registration"].dependencies
    assert password.inputs["username"] == "test@run.ai" and password.inputs["initial_password"] == "Abcd!234"
    assert "password" in password.secret_paths and "admin" in application.secret_paths
    assert {"admin", "secret"} <= application.secret_outputs
    assert application.inputs["name"] == "runai-cluster-stack"
    assert cluster.runai_application is not None  # exported as runaiApplication


def test_who_the_stack_is_must_be_clear() -> None:
    config = parse_stack(runai_settings())  # clientId given
    present = {"sshPrivateKey", "runaiAdminPassword"}
    with pytest.raises(StackConfigError, match=r"runai\.clientId: with runaiAdminPassword the stack makes its own"):
        check_secrets(config, present, present)
    settings = runai_settings()
    del settings["runai"]["clientId"]
    config = parse_stack(settings)
    with pytest.raises(StackConfigError, match=r"runai\.url: say who the stack is on the control plane"):
        check_secrets(config, {"sshPrivateKey"}, {"sshPrivateKey"})
    check_secrets(config, present, present)
    for admin, key in (
        ({"application": "Stack_App"}, "application"),
        ({"email": "not-an-email"}, "email"),
        ({"initialPassword": ""}, "initialPassword"),
    ):
        bad = runai_settings()
        bad["runai"]["admin"] = admin
        with pytest.raises(StackConfigError, match=rf"runai\.admin\.{key}"):
            parse_stack(bad)


def test_the_application_needs_the_administrators_current_password(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    props = app_props(url, fake)
    fake.admin_password = "changed-in-the-ui-0b1c"
    with pytest.raises(RunaiApiError, match=r"refuses runaiAdminPassword for test@run\.ai") as refused:
        ApplicationProvider().create(props)
    assert "Abcd!234" not in str(refused.value)


def test_new_credentials_are_stored_without_touching_the_objects(server: tuple[str, FakeRunai]) -> None:
    # read and delete see only what the state holds: an application made
    # again (or a rotated secret) must reach every object's stored connection.
    url, fake = server
    old = connection_to(url, fake)
    new = json.dumps({"url": url, "client_id": "runai-cluster-stack", "client_secret": "made-again-5e6f"})
    rule = {"subjectType": "group", "subjectId": "ops", "roleName": "Viewer", "scopeType": "tenant", "scopeId": "1001"}
    provider = RunaiObjectProvider()
    created = provider.create({"kind": "accessrules", "spec": rule, "connection": old})
    news = {"kind": "accessrules", "spec": rule, "connection": new}
    diff = provider.diff(created.id, created.outs, news)
    assert diff.changes and not diff.replaces  # stored in place, not a new rule
    before = len(fake.requests)
    assert provider.update(created.id, created.outs, news).outs["connection"] == new
    assert len(fake.requests) == before  # no call: access rules have no update

    application = ApplicationProvider()
    made = application.create(app_props(url, fake))
    rotated = {**app_props(url, fake), "admin": json.dumps({"url": url, "username": fake.admin_email, "password": "x"})}
    assert application.diff(made.id, made.outs, rotated).changes
    updated = application.update(made.id, made.outs, rotated)
    assert updated.outs["admin"] == rotated["admin"] and updated.outs["rule_id"] == made.outs["rule_id"]
