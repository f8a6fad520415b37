"""The organisation section, shared by both schedulers: every bad input is
refused with a message naming the key and the fix."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tests.unit.test_kai import ORG, kai_settings


def runai_settings() -> dict[str, Any]:
    settings = kai_settings()
    settings["scheduler"] = {"kind": "runai"}
    return settings


def refused(settings: dict[str, Any]) -> str:
    with pytest.raises(StackConfigError) as caught:
        parse_stack(settings)
    return str(caught.value)


def test_the_example_organisation_is_valid_on_both_paths() -> None:
    for settings in (kai_settings(), runai_settings()):
        org = parse_stack(settings).org
        assert [p.name for _, p in org.projects] == ["detection", "segmentation", "llm"]


def test_cpu_and_memory_without_a_quota_are_not_summed_or_capped() -> None:
    def change(org: dict[str, Any]) -> None:
        # The department caps CPU; of its projects one sets none. The other
        # department sets no memory while its project does.
        vision(org)["quotas"]["dev"]["cpu"] = 32
        org["departments"][1]["projects"][0]["quotas"] = {"dev": {"memoryGb": 64, "cpuLimit": 4}}

    for kai in (True, False):
        quotas = parse_stack(edit(change, kai)).org.departments[1].projects[0].quotas["dev"]
        assert quotas.cpu is None and quotas.unmanaged() == ["cpu"]


def edit(change: Callable[[dict[str, Any]], None], kai: bool = True) -> dict[str, Any]:
    settings = kai_settings() if kai else runai_settings()
    change(settings["org"])
    return settings


def vision(org: dict[str, Any]) -> dict[str, Any]:
    return org["departments"][0]


CASES: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "unknown pool",
        lambda org: vision(org)["quotas"].update({"a100": {"gpu": 1}}),
        "org.departments[0].quotas.a100: no node is in node pool 'a100' (pools: dev)",
    ),
    (
        "duplicate department",
        lambda org: org["departments"][1].update(name="vision"),
        "departments[].name: vision used more than once",
    ),
    (
        "duplicate project",
        lambda org: vision(org)["projects"][1].update(name="detection"),
        "departments[].projects[].name: detection used more than once",
    ),
    (
        "duplicate namespace",
        lambda org: vision(org)["projects"][1].update(namespace="llm-team"),
        "departments[].projects[].namespace: llm-team used more than once",
    ),
    (
        "name Run:ai rejects",
        lambda org: vision(org)["projects"][0].update(name="Detection_1"),
        "org.departments[0].projects[0].name",
    ),
    (
        "project quota above its department's",
        lambda org: vision(org)["projects"][0]["quotas"]["dev"].update(gpu=10),
        "org: departments[0].quotas.dev.gpu: the projects of 'vision' ask for 14 in pool 'dev', more than the "
        "department's 12: raise",
    ),
    (
        "unlimited project under a limited department",
        lambda org: vision(org)["projects"][1]["quotas"]["dev"].update(gpu="unlimited"),
        "the projects of 'vision' ask for unlimited in pool 'dev'",
    ),
    (
        "negative quota",
        lambda org: vision(org)["quotas"]["dev"].update(gpu=-1),
        "a quota is 0 or more, or 'unlimited' (not -1)",
    ),
    (
        "limit below quota",
        lambda org: vision(org)["projects"][0]["quotas"]["dev"].update(gpuLimit=2),
        "gpuLimit 2 is below gpu 8: raise the limit or lower the quota",
    ),
    (
        "unknown role",
        lambda org: vision(org)["access"].append({"user": "eve", "role": "admin"}),
        "org.departments[0].access[1].role",
    ),
    (
        "user and group at once",
        lambda org: vision(org)["access"].append({"user": "eve", "group": "g", "role": "viewer"}),
        "give exactly one of user, group or application",
    ),
    (
        "over-quota with no preemption",
        lambda org: org.update(noPreemption=True),
        "org.departments[0].overQuota: org.noPreemption is true; set overQuota: false",
    ),
    (
        "two pools for one queue",
        lambda org: vision(org)["quotas"].update({"dev2": {"gpu": 0}}),
        "org.departments[0].quotas.dev2: no node is in node pool 'dev2'",
    ),
    (
        "a project named like a department",
        lambda org: vision(org)["projects"][1].update(name="language"),
        "org.departments[0].projects[1].name: 'language' is also a department",
    ),
    (
        "a per-project default class on KAI",
        lambda org: vision(org)["projects"][1].update(defaultPriorityClass="build"),
        "org.departments[0].projects[1].defaultPriorityClass: the KAI path has no per-project default",
    ),
]


@pytest.mark.parametrize(("case", "change", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_organisation(case: str, change: Callable[[dict[str, Any]], None], expected: str) -> None:
    assert expected in refused(edit(change))


def test_one_pool_per_queue_on_kai_only() -> None:
    def two_pools(settings: dict[str, Any]) -> dict[str, Any]:
        settings["nodes"][3]["nodePool"] = "dev2"
        vision(settings["org"])["quotas"]["dev2"] = {"gpu": 0}
        return settings

    assert "org.departments[0].quotas: 2 node pools (dev, dev2); on the KAI path a queue has one" in refused(
        two_pools(kai_settings())
    )
    assert parse_stack(two_pools(runai_settings())).org.departments[0].quotas.keys() == {"dev", "dev2"}


def calm(org: dict[str, Any]) -> None:
    """org.noPreemption on, with over-quota off everywhere as it requires."""
    org["noPreemption"] = True
    for department in org["departments"]:
        department["overQuota"] = False
        for project in department["projects"]:
            project.pop("overQuota", None)


def test_default_priority_class_names_a_runai_class() -> None:
    def default(name: str) -> Callable[[dict[str, Any]], None]:
        return lambda org: vision(org)["projects"][1].update(defaultPriorityClass=name)

    assert parse_stack(edit(default("inference"), kai=False))
    message = refused(edit(default("urgent"), kai=False))
    assert "projects[1].defaultPriorityClass: 'urgent' does not exist on the runai path; use one of train," in message

    def no_preemption(org: dict[str, Any]) -> None:
        calm(org)
        default("train")(org)

    message = refused(edit(no_preemption, kai=False))
    assert "'train' (50) is preemptible but org.noPreemption is true; use a class of 100 or more" in message


def test_workload_policy_priority_defaults_name_a_class() -> None:
    def policy(name: str, quiet: bool = False) -> Callable[[dict[str, Any]], None]:
        def change(org: dict[str, Any]) -> None:
            org["workloadPolicies"] = [{"workload": "trainings", "defaults": {"priorityClass": name}}]
            if quiet:
                calm(org)

        return change

    assert parse_stack(edit(policy("train"), kai=False))
    message = refused(edit(policy("high"), kai=False))
    assert "org.workloadPolicies[0].defaults.priorityClass: 'high' does not exist on the runai path" in message
    message = refused(edit(policy("train", quiet=True), kai=False))
    assert "org.workloadPolicies[0].defaults.priorityClass: 'train' (50) is preemptible" in message
    assert parse_stack(edit(policy("build", quiet=True), kai=False))


@pytest.mark.parametrize(
    ("kai", "expected"),
    [
        ({"priorityClasses": {"train": 1_000_000_000}}, "scheduler.kai: priorityClasses.train: 1000000000 is outside"),
        ({"globalDefaultPriorityClass": "urgent"}, "scheduler.kai: globalDefaultPriorityClass: 'urgent' is not in"),
        ({"chart": {"repository": "oci://r", "name": "kai", "version": "latest"}}, "pin an exact chart version"),
        ({"oidc": {"issuerUrl": "http://idp", "clientId": "k"}}, "scheduler.kai.oidc.issuerUrl"),
    ],
)
def test_bad_kai_settings(kai: dict[str, Any], expected: str) -> None:
    assert expected in refused(kai_settings(**kai))


def test_org_example_is_not_mutated() -> None:
    before = copy.deepcopy(ORG)
    edit(lambda org: org.update(noPreemption=True))
    assert before == ORG


def test_oidc_flags_set_in_one_place() -> None:
    settings = kai_settings(oidc={"issuerUrl": "https://idp.example.com", "clientId": "k"})
    settings["cluster"]["apiServerExtraArgs"] = {"oidc-client-id": "other"}
    message = refused(settings)
    assert (
        "cluster.apiServerExtraArgs: oidc-client-id would also be set by scheduler.kai.oidc; set them in one place"
        in message
    )
