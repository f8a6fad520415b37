"""The KAI path under mocks: queues, hierarchy, quotas, namespaces, bindings,
node selectors, for a stack with two departments and three projects."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.support.programs import registered
from tests.support.settings import fixture
from tools.mocked_program import KUBECONFIG, Recorded, Registration, run_program

QUEUE = "kubernetes:scheduling.run.ai/v2:Queue"
ORG: dict[str, Any] = {
    "departments": [
        {
            "name": "vision",
            "quotas": {"dev": {"gpu": 12, "cpu": 64, "memoryGb": 512}},
            "access": [{"group": "vision-leads", "role": "department-admin"}],
            "projects": [
                {
                    "name": "detection",
                    "quotas": {"dev": {"gpu": 8, "gpuLimit": 12, "cpu": 32, "memoryGb": 256}},
                    "priority": 120,
                    "access": [
                        {"user": "alice@example.com", "role": "researcher"},
                        {"group": "vision-leads", "role": "department-admin"},
                    ],
                },
                {"name": "segmentation", "quotas": {"dev": {"gpu": 4}}, "overQuota": False},
            ],
        },
        {
            "name": "language",
            "quotas": {"dev": {"gpu": "unlimited"}},
            "overQuota": False,
            "projects": [
                {"name": "llm", "namespace": "llm-team", "access": [{"user": "bob@example.com", "role": "viewer"}]}
            ],
        },
    ]
}


def kai_settings(**kai: Any) -> dict[str, Any]:
    settings = fixture("small")
    settings["scheduler"] = {"kind": "kai", "kai": kai}
    settings["org"] = copy.deepcopy(ORG)
    return settings


@pytest.fixture(scope="module")
def kai() -> Recorded:
    return registered(kai_settings())


def queues(recorded: Recorded) -> dict[str, Registration]:
    return {r.inputs["metadata"]["name"]: r for r in recorded.of_type(QUEUE)}


def test_departments_are_parent_queues_and_projects_leaves(kai: Recorded) -> None:
    found = queues(kai)
    assert set(found) == {"vision", "language", "detection", "segmentation", "llm"}
    assert "parentQueue" not in found["vision"].inputs["spec"]
    assert found["detection"].inputs["spec"]["parentQueue"] == "vision"
    assert found["llm"].inputs["spec"]["parentQueue"] == "language"
    # A leaf waits for its parent; every queue carries its pool for the policy pack.
    assert found["vision"].urn in found["detection"].dependencies
    assert found["detection"].inputs["metadata"]["labels"]["run.ai/node-pool"] == "dev"


def test_quotas_in_kai_units_with_every_field_explicit(kai: Recorded) -> None:
    found = queues(kai)
    detection = found["detection"].inputs["spec"]
    assert detection["priority"] == 120
    assert detection["resources"] == {
        "gpu": {"quota": 8, "limit": 12, "overQuotaWeight": 1},
        "cpu": {"quota": 32000, "limit": -1, "overQuotaWeight": 1},  # millicores
        "memory": {"quota": 256000, "limit": -1, "overQuotaWeight": 1},  # MB
    }
    # Over-quota off: capped at the quota, no share of idle capacity.
    assert found["segmentation"].inputs["spec"]["resources"]["gpu"] == {"quota": 4, "limit": 4, "overQuotaWeight": 0}
    # CPU and memory without a quota are not managed: an unlimited quota, and
    # no cap at the quota (0 refuses every pod asking for any, at any priority).
    for queue, resource in (("segmentation", "cpu"), ("segmentation", "memory"), ("language", "cpu")):
        assert found[queue].inputs["spec"]["resources"][resource] == {"quota": -1, "limit": -1, "overQuotaWeight": 0}
    # "unlimited" is KAI's -1; a project inherits its department's over-quota stance.
    assert found["language"].inputs["spec"]["resources"]["gpu"] == {"quota": -1, "limit": -1, "overQuotaWeight": 0}
    assert found["llm"].inputs["spec"]["resources"]["gpu"] == {"quota": 0, "limit": 0, "overQuotaWeight": 0}


def test_cpu_and_memory_quotas_set_or_not() -> None:
    settings = kai_settings()
    [_, segmentation] = settings["org"]["departments"][0]["projects"]
    segmentation["quotas"]["dev"].update(cpuLimit=8, memoryGb=0)
    recorded, _ = run_program(settings)
    resources = queues(recorded)["segmentation"].inputs["spec"]["resources"]
    # Not managed, yet capped where the stack says so; a quota of 0 is a quota.
    assert resources["cpu"] == {"quota": -1, "limit": 8000, "overQuotaWeight": 0}
    assert resources["memory"] == {"quota": 0, "limit": -1, "overQuotaWeight": 0}
    [kai_component] = recorded.of_type("runai-cluster:scheduling:KaiScheduling")
    summary = {q["name"]: q for q in kai_component.outputs["organisation"]["queues"]}
    assert summary["segmentation"]["unmanaged"] == ["cpu"]
    assert summary["detection"]["unmanaged"] == []


def test_a_namespace_per_project_selecting_its_pool(kai: Recorded) -> None:
    namespaces = {r.inputs["metadata"]["name"]: r for r in kai.of_type("kubernetes:core/v1:Namespace")}
    assert set(namespaces) == {"runai-detection", "runai-segmentation", "llm-team"}
    detection = namespaces["runai-detection"].inputs["metadata"]
    assert detection["annotations"] == {"scheduler.alpha.kubernetes.io/node-selector": "run.ai/node-pool=dev"}
    assert detection["labels"]["kai.scheduler/queue"] == "detection"
    # A project without quotas of its own lands in its department's pool.
    assert namespaces["llm-team"].inputs["metadata"]["annotations"] == {
        "scheduler.alpha.kubernetes.io/node-selector": "run.ai/node-pool=dev"
    }


def test_bindings_per_project_from_project_and_department_access(kai: Recorded) -> None:
    bindings = [r.inputs for r in kai.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")]
    granted = sorted(
        (b["metadata"]["namespace"], b["subjects"][0]["kind"], b["subjects"][0]["name"], b["roleRef"]["name"])
        for b in bindings
    )
    assert granted == [
        ("llm-team", "User", "bob@example.com", "runai-cluster-viewer"),
        ("runai-detection", "Group", "vision-leads", "runai-cluster-researcher"),  # once, though listed twice
        ("runai-detection", "User", "alice@example.com", "runai-cluster-researcher"),
        ("runai-segmentation", "Group", "vision-leads", "runai-cluster-researcher"),
    ]
    roles = {
        r.inputs["metadata"]["name"]: r.inputs["rules"]
        for r in kai.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRole")
    }
    viewer_verbs = {verb for rule in roles["runai-cluster-viewer"] for verb in rule["verbs"]}
    assert viewer_verbs == {"get", "list", "watch"}
    assert not any("secrets" in rule["resources"] for rule in roles["runai-cluster-viewer"])
    assert any(
        "podgroups" in rule["resources"] and "create" in rule["verbs"] for rule in roles["runai-cluster-researcher"]
    )


def test_priority_classes_and_chart(kai: Recorded) -> None:
    classes = {
        r.inputs["metadata"]["name"]: r.inputs for r in kai.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
    }
    assert {name: c["value"] for name, c in classes.items()} == {
        "train": 50,
        "build-preemptible": 75,
        "build": 100,
        "inference": 125,
    }
    assert not any(c.get("globalDefault") for c in classes.values())
    [chart] = kai.of_type("kubernetes:helm.sh/v3:Release", under="KaiScheduling")
    assert chart.inputs["chart"] == "oci://ghcr.io/kai-scheduler/kai-scheduler/kai-scheduler"
    assert chart.inputs["version"] == "v0.16.8"
    assert chart.inputs["values"]["defaultQueue"] == {"createDefaultQueue": False}
    # The stack's classes, not the chart's of the same names.
    assert chart.inputs["values"]["defaultPriorityClasses"] == {"enabled": False}
    # Parent queues wait for the chart (it brings the Queue CRD).
    assert chart.urn in queues(kai)["vision"].dependencies


def test_a_chart_that_makes_our_priority_classes_itself_is_refused() -> None:
    from stacks.model import StackConfig

    old = {"repository": "oci://ghcr.io/nvidia/kai-scheduler", "name": "kai-scheduler", "version": "v0.13.0"}
    refused = r"v0\.13\.0 creates PriorityClasses train, build-preemptible, build, inference itself"
    with pytest.raises(ValueError, match=refused):
        StackConfig.model_validate(kai_settings(chart=old))
    # Installed by other means, or classes of other names: no clash.
    StackConfig.model_validate(kai_settings(chart=old, installChart=False))
    StackConfig.model_validate(kai_settings(chart=old, priorityClasses={"low": 10, "high": 20}))


def test_admission_ties_pods_and_podgroups_to_their_namespace_queue(kai: Recorded) -> None:
    policies = {
        r.inputs["metadata"]["name"]: r
        for r in kai.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicy")
    }
    assert set(policies) == {"runai-cluster-pod-queue", "runai-cluster-podgroup-queue"}
    bindings = {
        r.inputs["metadata"]["name"]: r
        for r in kai.of_type("kubernetes:admissionregistration.k8s.io/v1:ValidatingAdmissionPolicyBinding")
    }
    for name, policy in policies.items():
        assert bindings[name].inputs["spec"] == {"policyName": name, "validationActions": ["Deny"]}
        assert policy.urn in bindings[name].dependencies
        selector = policy.inputs["spec"]["matchConstraints"]["namespaceSelector"]
        assert selector["matchExpressions"] == [{"key": "kai.scheduler/queue", "operator": "Exists"}]
    pods = policies["runai-cluster-pod-queue"].inputs["spec"]
    assert pods["validations"][0]["expression"] == "object.spec.schedulerName == 'kai-scheduler'"


def test_without_the_chart_and_with_a_default_class() -> None:
    recorded, _ = run_program(kai_settings(installChart=False, globalDefaultPriorityClass="build"))
    assert recorded.of_type("kubernetes:helm.sh/v3:Release", under="KaiScheduling") == []
    defaults = [
        r.inputs["metadata"]["name"]
        for r in recorded.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass")
        if r.inputs.get("globalDefault")
    ]
    assert defaults == ["build"]


def test_the_runai_path_holds_no_kai_parts() -> None:
    settings = kai_settings()
    settings["scheduler"] = {"kind": "runai"}
    recorded, _ = run_program(settings)
    assert recorded.of_type(QUEUE) == []
    assert recorded.of_type("kubernetes:scheduling.k8s.io/v1:PriorityClass") == []


def test_kubeadm_enables_pod_node_selector_on_the_kai_path() -> None:
    from stacks.model import StackConfig

    config = StackConfig.model_validate(kai_settings())
    assert "PodNodeSelector" in config.admission_plugins
    settings = kai_settings()
    settings["scheduler"] = {"kind": "runai"}
    assert "PodNodeSelector" not in StackConfig.model_validate(settings).admission_plugins


def test_existing_cluster_kai_path_needs_no_ssh() -> None:
    settings = kai_settings(installChart=False)
    settings["cluster"] = {**settings["cluster"], "bootstrap": "existing"}
    recorded, _ = run_program(settings, secrets={"kubeconfig": KUBECONFIG})
    assert len(recorded.of_type(QUEUE)) == 5


OIDC = {"issuerUrl": "https://idp.example.com/realms/gpu", "clientId": "kubernetes"}


def test_oidc_identities_prefix_subjects_and_reach_kubeadm() -> None:
    from components.kubeadm.bootstrap import init_config
    from stacks.model import StackConfig

    recorded, _ = run_program(kai_settings(oidc=OIDC))
    subjects = sorted(
        r.inputs["subjects"][0]["name"] for r in recorded.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    )
    assert subjects == ["oidc:alice@example.com", "oidc:bob@example.com", "oidc:vision-leads", "oidc:vision-leads"]
    config = StackConfig.model_validate(kai_settings(oidc=OIDC))
    assert config.api_server_extra_args["oidc-issuer-url"] == "https://idp.example.com/realms/gpu"
    rendered = init_config(config.control_planes[0], config)
    assert "oidc-issuer-url" in rendered and "NodeRestriction,PodNodeSelector" in rendered
