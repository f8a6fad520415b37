"""Quota, priority, protection and hygiene rules on a KAI stack: each with a
passing and a violating case, on validation args built directly from what the
program registers (or from hand-made resources where the stack model already
refuses the bad input)."""

from __future__ import annotations

import copy
from typing import Any

import hygiene
import priorities
import protection
import pytest
import quotas
import versions
from pulumi_policy import PolicyResource
from pulumi_policy.proxy import UNKNOWN_NUMBER_VALUE, UnknownValueError, unknown_checking_proxy

from tests.policy.stack_args import (
    program_resources,
    resource,
    resource_violations,
    stack_violations,
)
from tests.support.settings import fixture
from tests.unit.test_kai import kai_settings

KAI = "runai-cluster:scheduling:KaiScheduling"
CLUSTER = "runai-cluster:cluster:Cluster"
CAPACITY, WITHIN_DEPARTMENT, OVER_QUOTA_OFF, POOLS_HAVE_NODES = quotas.POLICIES
PRIORITY_ORDER, PRIORITY_NAMES = priorities.POLICIES
[PROTECTION] = protection.POLICIES
PINNED, NO_PLAIN_SECRETS = hygiene.POLICIES
[SUPPORTED_VERSIONS] = versions.POLICIES


def fitting(**kai: Any) -> dict[str, Any]:
    """The two-department stack with its guarantees fitting the dev pool's 16 GPUs."""
    settings = kai_settings(**kai)
    settings["org"]["departments"][1]["quotas"]["dev"]["gpu"] = 4
    return settings


@pytest.fixture(scope="module")
def kai() -> list[PolicyResource]:
    return program_resources(fitting())


def component(resources: list[PolicyResource], resource_type: str) -> PolicyResource:
    return next(r for r in resources if r.resource_type == resource_type)


def queue(resources: list[PolicyResource], name: str) -> dict[str, Any]:
    """A queue's entry in the organisation summary the KAI component publishes."""
    queues = component(resources, KAI).props["organisation"]
    return next(q for q in queues["queues"] if q["name"] == name)


def inventory(resources: list[PolicyResource]) -> dict[str, Any]:
    return component(resources, CLUSTER).props["inventory"]


def edited(resources: list[PolicyResource]) -> list[PolicyResource]:
    return [resource(r.resource_type, r.name, copy.deepcopy(dict(r.props)), r.opts.protect) for r in resources]


def test_the_kai_stack_passes_every_rule(kai: list[PolicyResource]) -> None:
    for policy in (CAPACITY, WITHIN_DEPARTMENT, OVER_QUOTA_OFF, POOLS_HAVE_NODES, PRIORITY_ORDER, PROTECTION):
        assert stack_violations(policy, kai, {"overcommitRatio": 1.0}) == [], policy.name
    for item in kai:
        assert resource_violations(PINNED, item) == []
        assert resource_violations(NO_PLAIN_SECRETS, item) == []


def test_node_pool_over_committed() -> None:
    settings = fitting()
    settings["org"]["departments"][1]["quotas"]["dev"]["gpu"] = 8  # 12 + 8 > 16
    resources = program_resources(settings)
    [message] = stack_violations(CAPACITY, resources, {"overcommitRatio": 1.0})
    assert message.startswith("node pool 'dev': departments are guaranteed 20 GPUs (vision=12, language=8)")
    assert "the pool has 16 GPUs and the allowed over-commit is 1x (16)" in message
    assert "lower the departments' gpu quotas in `org` or add GPU nodes to the pool" in message
    # A lab may allow it (e.g. every department promised 100 GPUs on a small pool).
    assert stack_violations(CAPACITY, resources, {"overcommitRatio": 1.5}) == []
    assert stack_violations(CAPACITY, resources, {"overcommitRatio": "unlimited"}) == []


def test_unlimited_department_over_commits_any_finite_pool() -> None:
    [message] = stack_violations(CAPACITY, program_resources(kai_settings()), {"overcommitRatio": 4})
    assert "departments are guaranteed unlimited GPUs (vision=12, language=unlimited)" in message


def test_projects_above_their_department(kai: list[PolicyResource]) -> None:
    resources = edited(kai)
    queue(resources, "segmentation")["resources"]["gpu"]["quota"] = 6  # 8 + 6 > 12
    [message] = stack_violations(WITHIN_DEPARTMENT, resources)
    assert message == (
        "department 'vision': its projects are guaranteed 14 gpu in pool 'dev' but the department only 12: "
        "lower the projects' gpu quotas or raise the department's"
    )


def test_quotas_the_stack_leaves_unset_are_neither_summed_nor_caps(kai: list[PolicyResource]) -> None:
    # segmentation sets no CPU quota (KAI's queue: unlimited) beside
    # detection's 32 cores, within vision's 64.
    assert queue(kai, "segmentation")["unmanaged"] == ["cpu", "memory"]
    assert stack_violations(WITHIN_DEPARTMENT, kai) == []
    # A department that manages no CPU (as the Run:ai path shows it, 0) caps none.
    resources = edited(kai)
    queue(resources, "vision")["resources"]["cpu"]["quota"] = 0
    queue(resources, "vision")["unmanaged"] = ["cpu"]
    assert stack_violations(WITHIN_DEPARTMENT, resources) == []
    # An unlimited quota that is set is a guarantee like any other.
    resources = edited(kai)
    queue(resources, "segmentation")["unmanaged"] = ["memory"]
    [message] = stack_violations(WITHIN_DEPARTMENT, resources)
    assert message.startswith("department 'vision': its projects are guaranteed unlimited cpu in pool 'dev'")


def test_no_preemption_leaves_unmanaged_cpu_alone() -> None:
    settings = fitting()
    settings["org"]["noPreemption"] = True
    for department in settings["org"]["departments"]:
        department["overQuota"] = False
        for project in department["projects"]:
            project.pop("overQuota", None)
    # A cap without a guarantee: nothing is over a quota that does not exist.
    settings["org"]["departments"][0]["projects"][1]["quotas"]["dev"]["cpuLimit"] = 8
    resources = program_resources(settings)
    assert stack_violations(OVER_QUOTA_OFF, resources) == []
    queue(resources, "segmentation")["unmanaged"] = []
    [message] = stack_violations(OVER_QUOTA_OFF, resources)
    assert message.startswith("queue 'segmentation': org.noPreemption is true but cpu may go over quota")


def test_over_quota_on_when_the_stack_says_no_preemption(kai: list[PolicyResource]) -> None:
    settings = fitting()
    settings["org"]["noPreemption"] = True
    for department in settings["org"]["departments"]:
        department["overQuota"] = False
        for project in department["projects"]:
            project.pop("overQuota", None)
    assert stack_violations(OVER_QUOTA_OFF, program_resources(settings)) == []

    resources = edited(kai)
    inventory(resources)["noPreemption"] = True
    messages = stack_violations(OVER_QUOTA_OFF, resources)
    assert any(m.startswith("queue 'detection': org.noPreemption is true but gpu may go over quota") for m in messages)
    assert not any("'segmentation'" in m for m in messages)  # its over-quota is off


def test_quota_on_a_pool_without_gpus_and_gpu_nodes_without_a_pool(kai: list[PolicyResource]) -> None:
    resources = edited(kai)
    queue(resources, "vision")["pool"] = "a100"
    inventory(resources)["gpuNodesWithoutPool"] = ["dev-gpu-3"]
    messages = stack_violations(POOLS_HAVE_NODES, resources)
    assert messages == [
        "queue 'vision': guarantees 12 GPUs in node pool 'a100', which has no GPU nodes: set nodePool on GPU "
        "nodes or move the quota",
        "GPU nodes dev-gpu-3 are in no node pool, so no quota covers them: set `nodePool` on each",
    ]


def test_priority_classes_out_of_order() -> None:
    resources = program_resources(fitting(priorityClasses={"train": 150, "build": 100, "inference": 125}))
    [message] = stack_violations(PRIORITY_ORDER, resources)
    assert message.startswith("PriorityClass 'train' (150) is not below 'build' (100): keep the order train <")


def test_priority_classes_critical_and_two_defaults() -> None:
    classes = {
        "train": {"value": 50, "globalDefault": True},
        "build": {"value": 100, "globalDefault": True},
        "urgent": {"value": 2_000_000_000},
    }
    summary = resource(KAI, "kai", {"organisation": {"queues": [], "priorityClasses": classes}})
    messages = stack_violations(PRIORITY_ORDER, [summary])
    assert "PriorityClass 'urgent' has value 2000000000, in the system-critical range" in messages[0]
    assert messages[1].startswith("PriorityClasses build, train are all globalDefault; Kubernetes allows one")


def test_priority_names_exist_and_respect_no_preemption() -> None:
    org = "runai-cluster:runai:Organisation"
    names = [
        {"where": "org.departments[0].projects[0].defaultPriorityClass", "name": "urgent"},
        {"where": "org.workloadPolicies[0].defaults.priorityClass", "name": "train"},
    ]
    summary = {"queues": [], "priorityClasses": {}, "availableClasses": {"train": 50, "build": 100}}
    org_resource = resource(org, "org", {"organisation": {**summary, "priorityNames": names}})
    calm = resource(CLUSTER, "c", {"inventory": {"noPreemption": True}})
    fine = resource(org, "org", {"organisation": {**summary, "priorityNames": names[1:]}})
    assert stack_violations(PRIORITY_NAMES, [fine]) == []
    assert stack_violations(PRIORITY_NAMES, [org_resource, calm]) == [
        "org.departments[0].projects[0].defaultPriorityClass: priority class 'urgent' does not exist "
        "(there are: train, build)",
        "org.workloadPolicies[0].defaults.priorityClass: priority class 'train' (50) is preemptible but "
        "org.noPreemption is true: name a class of 100 or more",
    ]


def test_production_objects_are_protected() -> None:
    settings = fixture("production")
    settings["scheduler"] = {"kind": "kai"}
    settings["org"] = {
        "departments": [
            {
                "name": "research",
                "quotas": {"prod": {"gpu": 32}},
                "projects": [{"name": "vision", "quotas": {"prod": {"gpu": 16}}}],
            }
        ]
    }
    resources = program_resources(settings, stack="prod")
    assert stack_violations(PROTECTION, resources) == []

    resources = edited(resources)
    namespace = next(r for r in resources if r.resource_type == "kubernetes:core/v1:Namespace")
    namespace.opts.protect = False
    [message] = stack_violations(PROTECTION, resources)
    assert message.startswith("namespace 'runai-vision' is not protected in production: keep `protect` on it")
    assert stack_violations(PROTECTION, resources, {"unprotected": ["runai-vision"]}) == []
    # Outside production nothing is required.
    assert stack_violations(PROTECTION, program_resources(fitting())) == []


def test_unpinned_chart_and_image() -> None:
    release = resource("kubernetes:helm.sh/v3:Release", "kai", {"chart": "kai-scheduler", "version": "latest"})
    [message] = resource_violations(PINNED, release)
    assert message == "Helm release 'kai': chart version latest is not pinned: set an exact version in the stack"
    deployment = resource(
        "kubernetes:apps/v1:Deployment",
        "web",
        {"spec": {"template": {"spec": {"containers": [{"image": "nginx"}, {"image": "registry:5000/app:1.2"}]}}}},
    )
    [message] = resource_violations(PINNED, deployment)
    assert "spec.template.spec.containers[0].image: image nginx is not pinned" in message
    pinned = resource("kubernetes:core/v1:Pod", "p", {"spec": {"containers": [{"image": "nginx@sha256:abc"}]}})
    assert resource_violations(PINNED, pinned) == []


def test_operator_images_with_a_version_beside_them_and_local_chart_archives() -> None:
    def policy(version: str) -> dict[str, object]:
        plugin = {"image": "k8s-rdma-shared-dev-plugin", "repository": "nvcr.io/nvidia/mellanox", "version": version}
        return {"spec": {"rdmaSharedDevicePlugin": plugin}}

    nic = "kubernetes:mellanox.com/v1alpha1:NicClusterPolicy"
    assert resource_violations(PINNED, resource(nic, "nic", policy("network-operator-v25.4.0"))) == []
    [message] = resource_violations(PINNED, resource(nic, "nic", policy("")))
    assert "image k8s-rdma-shared-dev-plugin is not pinned" in message
    archive = resource("kubernetes:helm.sh/v3:Release", "cni", {"chart": "/srv/charts/flannel-v0.28.9.tgz"})
    assert resource_violations(PINNED, archive) == []
    unpinned = resource("kubernetes:helm.sh/v3:Release", "cni", {"chart": "flannel"})
    assert resource_violations(PINNED, unpinned)


@pytest.mark.parametrize(
    ("props", "what"),
    [
        ({"data": {"id": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc"}}, "data.id holds a private key"),
        (
            {"data": {"kubeconfig": "users:\n- user:\n    client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVk="}},
            "data.kubeconfig holds kubeconfig credentials",
        ),
        (
            {"metadata": {"annotations": {"t": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLXZhbHVl"}}},
            "annotations.t holds a JWT",
        ),
        ({"metadata": {"labels": {"u": "https://admin:hunter2@registry.example"}}}, "labels.u holds a password"),
    ],
)
def test_secrets_in_plain_places(props: dict[str, Any], what: str) -> None:
    [message] = resource_violations(NO_PLAIN_SECRETS, resource("kubernetes:core/v1:ConfigMap", "cm", props))
    assert what in message and "keep it in a Kubernetes Secret" in message
    clean = resource("kubernetes:core/v1:ConfigMap", "cm", {"data": {"registry": "https://registry.example"}})
    assert resource_violations(NO_PLAIN_SECRETS, clean) == []


def test_a_value_unknown_during_preview_is_not_passed_silently(kai: list[PolicyResource]) -> None:
    """The SDK reports UnknownValueError as "can't run policy during preview"
    (advisory); the rule must let it through rather than pass or crash."""
    resources = edited(kai)
    queue(resources, "vision")["resources"]["gpu"]["quota"] = UNKNOWN_NUMBER_VALUE
    scheduling = component(resources, KAI)
    resources[resources.index(scheduling)] = resource(
        KAI, scheduling.name, unknown_checking_proxy(dict(scheduling.props))
    )
    with pytest.raises(UnknownValueError):
        stack_violations(CAPACITY, resources, {"overcommitRatio": 1.0})


def test_versions_within_the_runai_support_matrix() -> None:
    settings = fixture("small")
    # small keeps Kubernetes 1.32 on the default Run:ai (2.24 supports 1.33 to 1.35).
    assert stack_violations(SUPPORTED_VERSIONS, program_resources(settings)) == [
        "cluster 'gpu-dev': runai.version: kubernetes 1.32.8 is outside 1.33 to 1.35, which Run:ai 2.24 supports: "
        "change the version in the stack or runai.version"
    ]
    # The operators' defaults follow 2.25 and 3.0, past what 2.20 supports.
    settings["runai"] = {"version": "2.20"}
    assert sorted(stack_violations(SUPPORTED_VERSIONS, program_resources(settings))) == [
        "cluster 'gpu-dev': runai.version: gpuOperator v26.3.3 is outside 22.9 to 25.3, which Run:ai 2.20 supports: "
        "change the version in the stack or runai.version",
        "cluster 'gpu-dev': runai.version: knative 1.21.1 is outside 1.11 to 1.16, which Run:ai 2.20 supports: "
        "change the version in the stack or runai.version",
    ]
    # Only what is installed is judged.
    settings["addons"]["workloadTypes"] = ["distributed", "mpi"]
    settings["addons"]["gpuOperator"] = {"enabled": False}
    assert stack_violations(SUPPORTED_VERSIONS, program_resources(settings)) == []

    settings["runai"] = {"version": "2.19"}
    messages = stack_violations(SUPPORTED_VERSIONS, program_resources(settings))
    assert sorted(messages) == [
        "cluster 'gpu-dev': runai.version: kubernetes 1.32.8 is outside 1.28 to 1.31, which Run:ai 2.19 supports: "
        "change the version in the stack or runai.version",
        "cluster 'gpu-dev': runai.version: trainingOperator 1.8.1 is outside 1.7, which Run:ai 2.19 supports: "
        "change the version in the stack or runai.version",
    ]
    # A minor without a matrix never passes (the stack model refuses it first).
    [message] = versions.version_problems("old", {"scheduler": "runai", "runaiVersion": "2.21"})
    assert "Run:ai 2.21 has no support matrix in stacks/compatibility.json (known: 2.19, 2.20, 2.22" in message
    # The KAI path has no Run:ai to support it.
    assert stack_violations(SUPPORTED_VERSIONS, program_resources(kai_settings())) == []
