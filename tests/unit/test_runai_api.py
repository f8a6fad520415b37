"""Our Run:ai API wrapper (on runapy) against the local fake control plane:
every CRUD path, retries after 429 and 503, an expired token, duplicate
creates, and errors that keep the secret out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from components.runai.api import Credentials, RunaiApi, RunaiApiError
from components.runai.resources import RunaiObjectProvider, WorkloadSettingProvider
from tests.support.fake_runai import CLUSTER_ID, FakeRunai, connection_to, fake_runai


@pytest.fixture
def server() -> Iterator[tuple[str, FakeRunai]]:
    with fake_runai() as running:
        yield running


def api(url: str, fake: FakeRunai, secret: str | None = None) -> RunaiApi:
    return RunaiApi(Credentials(url, fake.client_id, secret or fake.client_secret), sleep=lambda _: None)


def department(name: str, gpus: float) -> dict[str, Any]:
    return {
        "name": name,
        "clusterId": CLUSTER_ID,
        "resources": [{"nodePool": {"id": "1", "name": "prod"}, "gpu": {"deserved": gpus, "limit": -1}}],
    }


def test_crud_of_node_pools_departments_and_projects(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    pool = client.create(
        "nodepools", {"name": "prod", "labelKey": "run.ai/node-pool", "labelValue": "prod", "clusterId": CLUSTER_ID}
    )
    assert pool["id"] == "1" and client.get("nodepools", "1")["labelValue"] == "prod"
    lab = client.create("departments", department("lab1", 8))
    project = client.create("projects", {**department("lab1-default", 4), "parentId": lab["id"]})
    assert project["status"]["namespace"] == "runai-lab1-default"
    assert [d["name"] for d in client.list("departments")] == ["lab1"]
    client.update("departments", lab["id"], {"resources": department("lab1", 16)["resources"]})
    assert client.get("departments", lab["id"])["resources"][0]["gpu"]["deserved"] == 16
    client.delete("projects", project["id"])
    assert client.get("projects", project["id"]) is None
    client.delete("projects", project["id"])  # already gone: fine


def test_retries_after_429_and_503(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    fake.fail_next("/api/v1/org-unit/departments", 429, 503)
    assert client.list("departments") == []
    statuses = [status for _, path, status in fake.requests if path.startswith("/api/v1/org-unit")]
    assert statuses == [429, 503, 200]


def test_a_create_whose_answer_was_lost_is_not_made_twice(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    client.create("departments", department("lab1", 8))
    # The server made it, then the answer was lost (503): the retry finds it.
    fake.fail_next("/api/v1/org-unit/departments", 503)
    again = client.create("departments", department("lab1", 8))
    assert again["name"] == "lab1" and len(fake.store["departments"]) == 1


def test_an_expired_token_is_refreshed(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    fake.token_seconds = -10  # every token is born expired...
    client = api(url, fake)
    fake.token_seconds = 3600  # ...until the server issues good ones again
    assert client.list("nodepools") == []
    assert fake.tokens_issued >= 2


def test_a_token_refused_before_its_expiry_is_replaced(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    fake.revoke_tokens()
    assert client.list("departments") == []
    assert [status for _, path, status in fake.requests if path.endswith("departments")] == [401, 200]


def test_token_requests_in_any_key_case(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    # runapy sends AppId/AppSecret; the docs use clientId/clientSecret.
    assert api(url, fake).list("projects") == []


def test_errors_name_the_call_not_the_secret(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    with pytest.raises(RunaiApiError) as caught:
        api(url, fake, secret="wrong-secret-value-91c2")
    assert "could not get a token" in str(caught.value)
    assert "wrong-secret-value-91c2" not in str(caught.value) + repr(caught.value)
    client = api(url, fake)
    with pytest.raises(RunaiApiError) as caught:
        client.create("projects", {"name": "orphan", "clusterId": CLUSTER_ID, "resources": [], "parentId": "99"})
    assert str(caught.value) == "POST /api/v1/org-unit/projects: 400 parentId 99 is not a department"
    assert fake.client_secret not in repr(Credentials(url, fake.client_id, fake.client_secret))


def test_malformed_quotas_are_refused(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    bad = {"name": "lab2", "clusterId": CLUSTER_ID, "resources": [{"gpu": {"deserved": 1}}]}
    with pytest.raises(RunaiApiError) as caught:
        client.create("departments", bad)
    assert caught.value.status == 400


def test_access_rules_by_role_name(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    lab = client.create("departments", department("lab1", 8))
    role = client.role_id("L1 researcher")
    rule = {"subjectType": "user", "subjectId": "alice@example.com", "roleId": role, "scopeType": "department"}
    created = client.create("accessrules", {**rule, "scopeId": lab["id"], "clusterId": CLUSTER_ID})
    assert created["roleName"] == "L1 researcher" and created["scopeName"] == "lab1"
    # A lost answer: found again by subject, role and scope, not made twice.
    fake.fail_next("/api/v1/authorization/access-rules", 503)
    client.create("accessrules", {**rule, "scopeId": lab["id"], "clusterId": CLUSTER_ID})
    alices = [r for r in fake.store["accessRules"].values() if r["subjectId"] == "alice@example.com"]
    assert len(alices) == 1
    with pytest.raises(RunaiApiError, match="Run:ai has no role named 'Researcher' "):
        client.role_id("Researcher")
    client.delete("accessrules", str(created["id"]))
    assert str(created["id"]) not in fake.store["accessRules"]


def test_nfs_data_sources(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    lab = client.create("departments", department("lab1", 8))
    meta = {"name": "datasets", "scope": "department", "departmentId": lab["id"], "clusterId": CLUSTER_ID}
    spec = {"server": "nfs.example.com", "path": "/exports/lab1", "mountPath": "/data/datasets", "readOnly": False}
    created = client.create("nfs", {"meta": meta, "spec": spec})  # answered 202
    asset_id = created["meta"]["id"]
    client.update("nfs", asset_id, {"meta": {"name": "datasets"}, "spec": {**spec, "readOnly": True}})
    assert client.get("nfs", asset_id)["spec"]["readOnly"] is True
    with pytest.raises(RunaiApiError) as caught:  # the scope is fixed at creation
        client.update("nfs", asset_id, {"meta": {**meta, "scope": "project"}, "spec": spec})
    assert caught.value.status == 400
    client.delete("nfs", asset_id)
    assert client.get("nfs", asset_id) is None


def test_compute_resources(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    two = {"gpuDevicesRequest": 2, "gpuRequestType": "portion", "gpuPortionRequest": 1.0, "cpuCoreRequest": 4}
    created = client.create("compute", {"meta": {"name": "gpu-2", "scope": "tenant"}, "spec": two})
    assert client.get("compute", created["meta"]["id"])["spec"]["gpuDevicesRequest"] == 2
    with pytest.raises(RunaiApiError) as caught:  # more than one device needs the portion type
        client.create(
            "compute",
            {"meta": {"name": "bad", "scope": "tenant"}, "spec": {"gpuDevicesRequest": 2, "gpuRequestType": "memory"}},
        )
    assert caught.value.status == 400


def test_whole_numbers_go_back_to_integers() -> None:
    from components.runai.resources import whole_numbers

    assert whole_numbers({"gpuDevicesRequest": 2.0, "gpuPortionRequest": 0.5, "items": [{"id": 1.0}]}) == {
        "gpuDevicesRequest": 2,
        "gpuPortionRequest": 0.5,
        "items": [{"id": 1}],
    }


def test_workload_policies_per_type_and_scope(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    lab = client.create("departments", department("lab1", 8))
    project = client.create("projects", {**department("lab1-a", 4), "parentId": lab["id"]})
    meta = {"scope": "project", "name": "lab1-a-trainings", "projectId": int(project["id"]), "clusterId": CLUSTER_ID}
    client.put_policy("trainings", {"meta": meta, "policy": {"defaults": {"backoffLimit": 0}, "rules": {}}})
    found = client.get_policy("trainings", "project", project["id"])
    assert found is not None and found["policy"]["defaults"] == {"backoffLimit": 0}
    assert client.get_policy("workspaces", "project", project["id"]) is None
    with pytest.raises(RunaiApiError, match="projectId is an int32"):
        client.put_policy("trainings", {"meta": {**meta, "projectId": project["id"]}, "policy": {}})
    client.delete_policy("trainings", "project", project["id"])
    assert client.get_policy("trainings", "project", project["id"]) is None


def test_registry_credentials_are_write_only(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    client = api(url, fake)
    meta = {"name": "nvcr-secret", "scope": "cluster", "clusterId": CLUSTER_ID}
    spec = {"url": "nvcr.io", "user": "$oauthtoken", "password": "ngc-key-value-55aa"}
    created = client.create("dockerregistry", {"meta": meta, "spec": spec})
    read = client.get("dockerregistry", created["meta"]["id"])
    assert read is not None and "password" not in read["spec"] and read["spec"]["user"] == "$oauthtoken"
    with pytest.raises(RunaiApiError, match="credentials cannot change"):
        client.update("dockerregistry", created["meta"]["id"], {"meta": {"name": "nvcr-secret"}, "spec": spec})


def test_local_users_through_the_provider(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    connection = connection_to(url, fake)
    provider = RunaiObjectProvider()
    props = {"kind": "users", "spec": {"email": "ada@example.com"}, "connection": connection}
    created = provider.create(props)
    assert len(created.outs["once"]) == 32  # the temporary password, shown only now
    stored = fake.store["users"][created.id]
    assert stored["username"] == "ada@example.com" and stored["tempPassword"] == created.outs["once"]
    read = provider.read(created.id, created.outs)
    assert read.outs["spec"] == {"email": "ada@example.com"} and read.outs["once"] == created.outs["once"]
    renamed = {**created.outs, "spec": {"email": "ada.l@example.com"}}
    assert provider.diff(created.id, created.outs, renamed).replaces == ["spec.email"]
    # A create whose answer was lost finds the user; its password was shown then.
    again = provider.create(props)
    assert again.id == created.id and again.outs["once"] == ""
    provider.delete(created.id, created.outs)
    assert fake.store["users"] == {}
    assert provider.read(created.id, created.outs).id == ""  # deleted in the UI: made again by the next up


def test_workloads_settings_through_the_provider(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    connection = connection_to(url, fake)
    provider = WorkloadSettingProvider()
    props = {"key": "enablePolicies", "enabled": True, "connection": connection}
    provider.create(props)
    assert fake.workload_settings["enablePolicies"] is True
    fake.workload_settings["enablePolicies"] = False  # switched off in the UI
    read = provider.read("enablePolicies", props)
    assert read.outs["enabled"] is False
    assert provider.diff("enablePolicies", read.outs, props).changes  # refresh shows the drift; up puts it back
    provider.update("enablePolicies", read.outs, props)
    assert fake.workload_settings["enablePolicies"] is True
    provider.delete("enablePolicies", props)
    assert fake.workload_settings["enablePolicies"] is True  # left as it is
    with pytest.raises(RunaiApiError, match="400"):
        api(url, fake).set_workload_setting("noSuchSetting", True)


def test_applications_through_the_provider(server: tuple[str, FakeRunai]) -> None:
    url, fake = server
    connection = connection_to(url, fake)
    provider = RunaiObjectProvider()
    props = {"kind": "apps", "spec": {"name": "ci-pipeline"}, "connection": connection}
    created = provider.create(props)
    assert created.outs["once"] == fake.store["apps"][created.id]["secret"]  # shown only now
    assert RunaiApi(Credentials(url, "ci-pipeline", created.outs["once"])).list("departments") == []
    assert not provider.diff(created.id, provider.read(created.id, created.outs).outs, props).changes
    renamed = {**props, "spec": {"name": "ci-other"}}
    assert provider.diff(created.id, created.outs, renamed).replaces == ["spec.name"]
    with pytest.raises(RunaiApiError, match="400"):
        provider.create({**props, "spec": {"name": "CI"}})
    provider.delete(created.id, created.outs)
    assert fake.store["apps"] == {}
