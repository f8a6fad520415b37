"""Kubeflow Training Operator (MPI scheme off, its MPIJob CRD left out) and
the MPI Operator v2beta1, after the MPIJob CRD hand-over; each only for the
workload type that needs it (distributed, mpi)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.crd_guard import CrdGuard
from components.managed import Component, OnCluster
from components.training.mpijob_crd import CRD, MpiJobCrdHandOver
from stacks.addons import AddonsConfig, TrainingConfig, WorkloadType


def kustomization(training: TrainingConfig) -> dict[str, Any]:
    """The upstream overlay with two patches: its MPIJob CRD deleted (the MPI
    Operator owns that name) and only the non-MPI schemes enabled."""
    delete_crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD},
        "$patch": "delete",
    }
    schemes = [
        {
            "op": "add",
            "path": "/spec/template/spec/containers/0/args",
            "value": [f"--enable-scheme={scheme}" for scheme in training.schemes],
        }
    ]
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [training.kustomization],
        "patches": [
            {"patch": yaml.safe_dump(delete_crd, sort_keys=False)},
            {"target": {"kind": "Deployment", "name": "training-operator"}, "patch": yaml.safe_dump(schemes)},
        ],
    }


def write_kustomization(training: TrainingConfig) -> str:
    """A directory holding our kustomization; named by the settings, so the
    same settings give the same path on every run."""
    content = kustomization(training)
    digest = hashlib.sha256(yaml.safe_dump(content).encode()).hexdigest()[:12]
    directory = Path(tempfile.gettempdir(), "runai-cluster-kustomize", f"training-operator-{digest}")
    directory.mkdir(parents=True, exist_ok=True)
    if training.kustomization.startswith("/"):
        # kustomize refuses absolute roots: a local copy is named relative to us.
        content["resources"] = [os.path.relpath(training.kustomization, directory)]
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    return str(directory)


class KustomizeDirectory(pulumi.ComponentResource):
    """pulumi-kubernetes' kustomize/v2 Directory, registered untyped: its
    Python class (4.25.0) declares the `resources` output a string while the
    provider returns a list, which fails the program once the Directory
    exists."""

    def __init__(self, name: str, directory: str, skip_await: bool, opts: pulumi.ResourceOptions) -> None:
        props = {"directory": directory, "skipAwait": skip_await, "resources": None}
        super().__init__("kubernetes:kustomize/v2:Directory", name, props, opts, remote=True)


def training_workloads(addons: AddonsConfig) -> set[WorkloadType]:
    """The workload types whose operator the stack installs."""
    return {workload for workload in (WorkloadType.DISTRIBUTED, WorkloadType.MPI) if addons.installs(workload)}


class TrainingOperators(Component):
    def __init__(self, name: str, cluster: OnCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:training:TrainingOperators", name, opts)
        addons, kubeconfig = cluster.config.addons, cluster.kubeconfig
        training, skip_await, operators = addons.training, addons.skip_await, training_workloads(addons)
        # Either way the MPIJob name is handed over: the Training Operator's
        # own v1 CRD goes, whoever serves MPIJobs after.
        hand_over = MpiJobCrdHandOver(
            f"{name}-mpijob-crd",
            kubeconfig,
            training.acknowledge_mpi_job_migration,
            self.child(),
        )
        self.ready: list[pulumi.Resource] = [hand_over]
        crds = [CRD] if WorkloadType.MPI in operators else []
        if WorkloadType.DISTRIBUTED in operators:
            self.ready.append(
                KustomizeDirectory(
                    f"{name}-training-operator",
                    write_kustomization(training),
                    skip_await,
                    self.child(depends_on=[hand_over]),
                )
            )
            crds += [f"{scheme}s.kubeflow.org" for scheme in training.schemes]
        if WorkloadType.MPI in operators:
            self.ready.append(
                k8s.yaml.v2.ConfigFile(
                    f"{name}-mpi-operator",
                    file=training.mpi_operator_manifest,
                    skip_await=skip_await,
                    opts=self.child(depends_on=list(self.ready)),
                )
            )
        self.ready.append(
            CrdGuard(
                f"{name}-crds-in-use",
                layer="addons.training",
                crds=crds,
                kubeconfig=kubeconfig,
                opts=self.child(depends_on=list(self.ready)),
            )
        )
        self.register_outputs({"removedMpiJobs": hand_over.removed_mpi_jobs})
