"""The organisation on the Run:ai path under mocks: node pools, departments
and projects with their quotas per pool, and the summary the policy pack
reads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.load import StackConfigError, check_secrets, parse_stack
from tests.support.fake_runai import CLUSTER_ID
from tests.unit.test_kai import kai_settings
from tools.mocked_program import SSH_KEY, Recorded, run_program

CLIENT_SECRET = "runai-client-secret-value-0b7d"
RUNAI = {"url": "https://runai.example.com", "clientId": "automation", "clusterId": CLUSTER_ID}


def runai_settings() -> dict[str, Any]:
    settings = copy.deepcopy(kai_settings())
    settings["scheduler"] = {"kind": "runai"}
    settings["runai"] = dict(RUNAI)
    return settings


@pytest.fixture(scope="module")
def org() -> Recorded:
    recorded, _ = run_program(runai_settings(), secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    return recorded


def objects(recorded: Recorded, kind: str) -> dict[str, Any]:
    return {
        r.inputs["spec"]["name"]: r
        for r in recorded.of_type("pulumi-python:dynamic:Resource")
        if r.inputs.get("kind") == kind
    }


def test_pools_departments_projects(org: Recorded) -> None:
    pools = objects(org, "nodepools")
    assert set(pools) == {"dev"}
    assert pools["dev"].inputs["spec"] == {
        "name": "dev",
        "labelKey": "run.ai/node-pool",
        "labelValue": "dev",
        "clusterId": CLUSTER_ID,
        "placementStrategy": {"cpu": "binpack", "gpu": "binpack"},
    }
    departments = objects(org, "departments")
    vision = departments["vision"].inputs["spec"]
    assert vision["defaultNodePools"] == ["dev"]
    [item] = vision["resources"]
    assert item["nodePool"] == {"id": "gpu-dev-runai-org-pool-dev-id", "name": "dev"}
    assert item["gpu"] == {"deserved": 12, "limit": -1, "overQuotaWeight": 1}
    assert item["cpu"]["deserved"] == 64000 and item["memory"] == {
        "deserved": 512000,
        "limit": -1,
        "overQuotaWeight": 1,
        "units": "MB",
    }
    projects = objects(org, "projects")
    detection = projects["detection"].inputs["spec"]
    assert detection["parentId"] == "gpu-dev-runai-org-department-vision-id"
    assert detection["requestedNamespace"] == "runai-detection"
    assert projects["llm"].inputs["spec"]["requestedNamespace"] == "llm-team"
    # Over-quota off: capped at the quota, no share of idle GPUs.
    assert projects["segmentation"].inputs["spec"]["resources"][0]["gpu"] == {
        "deserved": 4,
        "limit": 4,
        "overQuotaWeight": 0,
    }
    assert departments["language"].inputs["spec"]["resources"][0]["gpu"]["deserved"] == -1
    # CPU without a quota: Run:ai is sent a deserved 0, uncapped.
    assert projects["segmentation"].inputs["spec"]["resources"][0]["cpu"] == {
        "deserved": 0,
        "limit": -1,
        "overQuotaWeight": 0,
    }


def test_the_client_secret_stays_secret(org: Recorded) -> None:
    for resource in org.of_type("pulumi-python:dynamic:Resource"):
        if resource.inputs.get("kind"):
            assert "connection" in resource.secret_paths
    # KAI's parts are absent on this path.
    assert org.of_type("kubernetes:scheduling.run.ai/v2:Queue") == []


def test_the_summary_for_the_policy_pack(org: Recorded) -> None:
    [component] = org.of_type("runai-cluster:runai:Organisation")
    entries = {(e["name"], e["pool"]): e for e in component.outputs["organisation"]["queues"]}
    assert entries[("detection", "dev")]["parent"] == "vision"
    assert entries[("vision", "dev")]["resources"]["gpu"] == {"quota": 12, "limit": -1, "overQuotaWeight": 1}


def test_several_pools_in_their_order() -> None:
    settings = runai_settings()
    settings["nodes"][3]["nodePool"] = "dev2"
    vision = settings["org"]["departments"][0]
    vision["quotas"] = {"dev2": {"gpu": 4, "order": 1}, "dev": {"gpu": 8, "order": 2}}
    vision["projects"][0]["quotas"] = {"dev": {"gpu": 4}}
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    spec = objects(recorded, "departments")["vision"].inputs["spec"]
    assert spec["defaultNodePools"] == ["dev2", "dev"]
    assert [item["nodePool"]["name"] for item in spec["resources"]] == ["dev2", "dev"]


def test_settings_refused() -> None:
    settings = runai_settings()
    del settings["runai"]["clusterId"]
    with pytest.raises(StackConfigError, match=r"runai: url: also give clusterId .* or cluster\.install: true"):
        parse_stack(settings)
    config = parse_stack(runai_settings())
    with pytest.raises(StackConfigError, match=r"runaiClientSecret: required with runai\.clientId"):
        check_secrets(config, present={"sshPrivateKey"}, secret={"sshPrivateKey"})


def test_access_rules_per_department_and_project(org: Recorded) -> None:
    rules = [
        r.inputs["spec"] for r in org.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("kind") == "accessrules"
    ]
    granted = sorted((r["scopeType"], r["scopeId"], r["subjectType"], r["subjectId"], r["roleName"]) for r in rules)
    assert granted == [
        ("department", "gpu-dev-runai-org-department-vision-id", "group", "vision-leads", "Department administrator"),
        ("project", "gpu-dev-runai-org-project-detection-id", "group", "vision-leads", "Department administrator"),
        ("project", "gpu-dev-runai-org-project-detection-id", "user", "alice@example.com", "L1 researcher"),
        ("project", "gpu-dev-runai-org-project-llm-id", "user", "bob@example.com", "Viewer"),
    ]


def test_shares_become_department_data_sources() -> None:
    settings = runai_settings()
    settings["storage"] = {
        "shares": [{"department": "vision", "name": "datasets", "server": "10.0.0.9", "path": "/exports/vision"}]
    }
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    [source] = [
        r.inputs["spec"] for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("kind") == "nfs"
    ]
    assert source["meta"] == {
        "name": "datasets",
        "scope": "department",
        "departmentId": "gpu-dev-runai-org-department-vision-id",
        "clusterId": CLUSTER_ID,
    }
    assert source["spec"] == {
        "server": "10.0.0.9",
        "path": "/exports/vision",
        "mountPath": "/data/datasets",
        "readOnly": False,
    }


def test_compute_resources_from_none_to_eight_gpus_and_a_fraction() -> None:
    settings = runai_settings()
    settings["org"]["computeResources"] = [{"name": f"gpu-{n}", "gpus": n} for n in range(9)] + [
        {"name": "half-gpu", "gpuPortion": 0.5, "cpuCores": 2, "memoryGb": 16}
    ]
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    specs = {
        r.inputs["spec"]["meta"]["name"]: r.inputs["spec"]
        for r in recorded.of_type("pulumi-python:dynamic:Resource")
        if r.inputs.get("kind") == "compute"
    }
    assert len(specs) == 10 and specs["gpu-0"]["meta"] == {"name": "gpu-0", "scope": "tenant"}
    assert specs["gpu-0"]["spec"] == {"cpuCoreRequest": 1, "cpuMemoryRequest": "4G", "gpuDevicesRequest": 0}
    assert specs["gpu-8"]["spec"]["gpuDevicesRequest"] == 8 and specs["gpu-8"]["spec"]["gpuPortionRequest"] == 1
    assert specs["half-gpu"]["spec"] == {
        "cpuCoreRequest": 2,
        "cpuMemoryRequest": "16G",
        "gpuDevicesRequest": 1,
        "gpuRequestType": "portion",
        "gpuPortionRequest": 0.5,
    }
    settings["org"]["computeResources"].append({"name": "both", "gpus": 1, "gpuPortion": 0.5})
    with pytest.raises(StackConfigError, match="give gpus"):
        parse_stack(settings)


def test_workload_policies_from_yaml() -> None:
    settings = runai_settings()
    settings["org"]["workloadPolicies"] = [
        {"workload": "trainings", "defaults": {"backoffLimit": 0}},
        {"workload": "workspaces", "project": "detection", "rules": {"gpuDevicesRequest": {"max": 2}}},
    ]
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    policies = {
        r.inputs["workload"]: r.inputs
        for r in recorded.of_type("pulumi-python:dynamic:Resource")
        if "workload" in r.inputs
    }
    assert policies["trainings"]["meta"] == {"scope": "tenant", "name": "cluster-trainings", "clusterId": CLUSTER_ID}
    assert policies["trainings"]["policy"] == {"defaults": {"backoffLimit": 0}, "rules": {}}
    assert policies["workspaces"]["meta"]["scope"] == "project"
    assert policies["workspaces"]["policy"]["rules"] == {"gpuDevicesRequest": {"max": 2}}


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ([{"workload": "trainings", "project": "nope"}], "workloadPolicies[0].project: 'nope' is not a project"),
        ([{"workload": "batch"}], "org.workloadPolicies[0].workload"),
        (
            [{"workload": "trainings", "department": "vision"}, {"workload": "trainings", "department": "vision"}],
            "workloadPolicies[] (workload and scope): trainings on vision used more than once",
        ),
        (
            [{"workload": "trainings", "department": "vision", "project": "detection"}],
            "give department or project, not both",
        ),
    ],
)
def test_bad_workload_policies(policies: list[dict[str, Any]], expected: str) -> None:
    settings = runai_settings()
    settings["org"]["workloadPolicies"] = policies
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    assert expected in str(caught.value)


def test_registry_credentials_keep_their_password_secret() -> None:
    settings = runai_settings()
    settings["runai"]["registries"] = [{"name": "nvcr", "url": "nvcr.io", "user": "$oauthtoken"}]
    secrets = {"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET, "runaiRegistryPassword-nvcr": "ngc-55aa"}
    recorded, _ = run_program(settings, secrets=secrets)
    [registry] = [
        r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("kind") == "dockerregistry"
    ]
    assert registry.inputs["spec"]["spec"] == {"url": "nvcr.io", "user": "$oauthtoken", "password": "ngc-55aa"}
    assert registry.inputs["spec"]["meta"] == {"name": "nvcr", "scope": "cluster", "clusterId": CLUSTER_ID}
    assert {"spec", "connection"} <= registry.secret_paths  # the password makes the whole spec secret
    config = parse_stack(settings)
    with pytest.raises(StackConfigError, match=r"runaiRegistryPassword-nvcr: required for runai\.registries"):
        check_secrets(
            config, present={"sshPrivateKey", "runaiClientSecret"}, secret={"sshPrivateKey", "runaiClientSecret"}
        )


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"url": "runai.example.com"}, "runai.url"),
        ({"clusterId": "not-a-uuid"}, "runai.clusterId"),
        (
            {
                "registries": [
                    {"name": "nvcr", "url": "nvcr.io", "user": "u"},
                    {"name": "nvcr", "url": "x", "user": "u"},
                ]
            },
            "runai: registries: each name once",
        ),
        ({"registries": [{"name": "NVCR", "url": "nvcr.io", "user": "u"}]}, "runai.registries[0].name"),
    ],
)
def test_bad_runai_settings(change: dict[str, Any], expected: str) -> None:
    settings = runai_settings()
    settings["runai"] |= change
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    assert expected in str(caught.value)


def test_compute_resource_names_unique() -> None:
    settings = runai_settings()
    settings["org"]["computeResources"] = [{"name": "gpu-1", "gpus": 1}, {"name": "gpu-1", "gpus": 2}]
    with pytest.raises(StackConfigError, match=r"computeResources\[\]\.name: gpu-1 used more than once"):
        parse_stack(settings)


def test_local_users_before_the_access_rules_that_name_them() -> None:
    settings = runai_settings()
    settings["org"]["localUsers"] = ["ada@example.com", "alan@example.com"]
    settings["org"]["departments"][0]["access"] = [{"user": "ada@example.com", "role": "researcher"}]
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    users = [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("kind") == "users"]
    assert sorted(u.inputs["spec"]["email"] for u in users) == ["ada@example.com", "alan@example.com"]
    for user in users:
        assert "once" in user.secret_outputs  # the temporary password
    rules = [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("kind") == "accessrules"]
    ada = next(r for r in rules if r.inputs["spec"]["subjectId"] == "ada@example.com")
    assert {u.urn for u in users} <= set(ada.dependencies)


@pytest.mark.parametrize(
    ("users", "expected"),
    [
        (["not-an-email"], r"'not-an-email' is not an email address"),
        (["ada@example.com", "ada@example.com"], r"localUsers: ada@example\.com used more than once"),
    ],
)
def test_bad_local_users(users: list[str], expected: str) -> None:
    settings = runai_settings()
    settings["org"]["localUsers"] = users
    with pytest.raises(StackConfigError, match=expected):
        parse_stack(settings)


def test_local_users_are_refused_on_the_kai_path() -> None:
    settings = kai_settings()
    settings["org"]["localUsers"] = ["ada@example.com"]
    with pytest.raises(StackConfigError, match=r"org\.localUsers: Run:ai local users"):
        parse_stack(settings)


def test_workload_settings_before_the_policies() -> None:
    settings = runai_settings()
    settings["runai"]["workloadSettings"] = {"enablePolicies": True}
    with pytest.raises(StackConfigError, match=r"workloadSettings: Run:ai 2\.24's API has no workloads settings"):
        parse_stack(settings)
    settings["runai"]["version"] = "2.25"
    settings["org"]["workloadPolicies"] = [{"workload": "trainings", "defaults": {"backoffLimit": 0}}]
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    [setting] = [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("key")]
    assert (setting.inputs["key"], setting.inputs["enabled"]) == ("enablePolicies", True)
    [policy] = [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("workload")]
    assert setting.urn in policy.dependencies
    settings["runai"]["workloadSettings"] = {"enableEverything": True}
    with pytest.raises(StackConfigError, match="workloadSettings"):
        parse_stack(settings)


def test_applications_made_before_the_rules_that_grant_them() -> None:
    settings = runai_settings()
    settings["org"]["applications"] = ["ci-pipeline"]
    detection = settings["org"]["departments"][0]["projects"][0]
    detection["access"].append({"application": "ci-pipeline", "role": "researcher"})
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    # Service accounts from 2.24 (the default), applications before.
    app = objects(recorded, "serviceaccounts")["ci-pipeline"]
    assert "once" in app.secret_outputs  # its secret, shown by Run:ai only at creation
    [rule] = [
        r
        for r in recorded.of_type("pulumi-python:dynamic:Resource")
        if r.inputs.get("kind") == "accessrules" and r.inputs["spec"]["subjectType"] == "service-account"
    ]
    assert rule.inputs["spec"]["subjectId"] == "ci-pipeline" and rule.inputs["spec"]["roleName"] == "L1 researcher"
    assert app.urn in rule.dependencies
    settings["runai"]["version"] = "2.23"
    recorded, _ = run_program(settings, secrets={"sshPrivateKey": SSH_KEY, "runaiClientSecret": CLIENT_SECRET})
    assert "ci-pipeline" in objects(recorded, "apps")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda org: org["departments"][0]["access"].append({"application": "ci", "role": "viewer"}),
            r"departments\[0\]\.access\[1\]\.application: 'ci' is not in org\.applications",
        ),
        (lambda org: org.update(applications=["ci", "ci"]), r"applications: ci used more than once"),
        (lambda org: org.update(applications=["CI"]), r"org\.applications\[0\]: 'CI' must be lowercase letters"),
        (
            lambda org: org["departments"][0]["access"].append(
                {"user": "a@example.com", "application": "ci", "role": "viewer"}
            ),
            "give exactly one of user, group or application",
        ),
        (
            lambda org: org.update(applications=["runai-cluster-stack"]),
            r"'runai-cluster-stack' is the stack's own application",
        ),
    ],
)
def test_applications_refused(change: Any, message: str) -> None:
    settings = runai_settings()
    change(settings["org"])
    with pytest.raises(StackConfigError, match=message):
        parse_stack(settings)


def test_applications_are_refused_on_the_kai_path() -> None:
    settings = kai_settings()
    settings["org"]["applications"] = ["ci"]
    with pytest.raises(StackConfigError, match=r"org\.applications: Run:ai applications; the KAI path has none"):
        parse_stack(settings)
