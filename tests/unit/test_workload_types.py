"""Workload types (Run:ai's features): Knative, the Training Operator and
the MPI Operator are installed only for the types a stack enables, and the
version table judges only what is installed."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tests.unit.test_layers import with_addons
from tools.mocked_program import Recorded, run_program

FRAMEWORKS = {
    "knative": "runai-cluster:serving:Serving",
    "training": "runai-cluster:training:TrainingOperators",
}


def types_of(recorded: Recorded) -> set[str]:
    return {r.type for r in recorded.resources.values()}


def urns(recorded: Recorded, word: str) -> list[str]:
    return [urn for urn in recorded.resources if word in urn.lower()]


def with_types(*types: str, **addons: Any) -> dict[str, Any]:
    return with_addons(workloadTypes=list(types), **addons)


def test_no_workload_types_no_frameworks() -> None:
    recorded, _ = run_program(with_types())
    assert not set(FRAMEWORKS.values()) & types_of(recorded)
    assert urns(recorded, "knative") == urns(recorded, "kourier") == urns(recorded, "mpi") == []
    assert not recorded.of_type("kubernetes:kustomize/v2:Directory")
    # Nothing of theirs reaches the version table either.
    assert set(parse_stack(with_types()).component_versions) == {"kubernetes", "gpuOperator", "prometheusStack"}


def test_each_type_brings_its_own_framework() -> None:
    recorded, _ = run_program(with_types("mpi"))
    assert FRAMEWORKS["knative"] not in types_of(recorded)
    assert not recorded.of_type("kubernetes:kustomize/v2:Directory")  # no Training Operator
    [mpi] = recorded.of_type("kubernetes:yaml/v2:ConfigFile", under="TrainingOperators")
    assert mpi.inputs["file"].endswith("/deploy/v2beta1/mpi-operator.yaml")
    [guard] = [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if r.inputs.get("layer")]
    assert guard.inputs["crds"] == ["mpijobs.kubeflow.org"]

    recorded, _ = run_program(with_types("inference", "distributed"))
    assert FRAMEWORKS["knative"] in types_of(recorded)
    assert recorded.of_type("kubernetes:kustomize/v2:Directory")
    assert not recorded.of_type("kubernetes:yaml/v2:ConfigFile", under="TrainingOperators")
    versions = parse_stack(with_types("inference", "distributed")).component_versions
    assert "knative" in versions and "trainingOperator" in versions and "mpiOperator" not in versions


def test_a_layer_turned_off_is_not_judged() -> None:
    settings = with_types("inference", "distributed", "mpi", knative={"enabled": False})
    assert "knative" not in parse_stack(settings).component_versions


def test_an_unknown_workload_type_is_refused() -> None:
    expected = r"addons\.workloadTypes\[0\]: Input should be 'inference', 'distributed' or 'mpi'"
    with pytest.raises(StackConfigError, match=expected):
        parse_stack(with_types("training"))
