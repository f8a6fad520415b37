"""CustomResourceDefinitions for the lab.

On a real cluster the KAI Scheduler chart installs the Queue CRD; the lab
cannot download charts, so it installs a stand-in written by us with the
fields the stack writes (from KAI's documented Queue spec), structural so the
API server rejects a malformed Queue as the real CRD would. Not for real
clusters. The scheduling tier replaces it with KAI's own CRDs, read from the
module its scheduler is built from (`kai_crds`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

_AMOUNT = {
    "type": "object",
    "properties": {
        "quota": {"type": "number"},
        "limit": {"type": "number"},
        "overQuotaWeight": {"type": "number"},
    },
}


def queue_crd() -> dict[str, Any]:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "queues.scheduling.run.ai",
            "labels": {"app.kubernetes.io/part-of": "runai-cluster-lab"},
            "annotations": {"runai-cluster/lab-only": "a stand-in for the KAI Scheduler chart's Queue CRD"},
        },
        "spec": {
            "group": "scheduling.run.ai",
            "scope": "Cluster",
            "names": {"plural": "queues", "singular": "queue", "kind": "Queue", "listKind": "QueueList"},
            "versions": [
                {
                    "name": "v2",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "displayName": {"type": "string"},
                                        "parentQueue": {"type": "string"},
                                        "priority": {"type": "integer"},
                                        "preemptMinRuntime": {"type": "string"},
                                        "reclaimMinRuntime": {"type": "string"},
                                        "resources": {
                                            "type": "object",
                                            "properties": {"cpu": _AMOUNT, "gpu": _AMOUNT, "memory": _AMOUNT},
                                        },
                                    },
                                },
                                "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                            },
                        }
                    },
                }
            ],
        },
    }


def mpijob_crd(version: str) -> dict[str, Any]:
    """`mpijobs.kubeflow.org` served at one version: v1 as the Training
    Operator ships it, v2beta1 as the MPI Operator does (spec left open)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "mpijobs.kubeflow.org", "labels": {"app.kubernetes.io/part-of": "runai-cluster-lab"}},
        "spec": {
            "group": "kubeflow.org",
            "scope": "Namespaced",
            "names": {"plural": "mpijobs", "singular": "mpijob", "kind": "MPIJob", "listKind": "MPIJobList"},
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


def kai_crds(binaries: Path) -> list[dict[str, Any]]:
    """KAI's CRDs as its module ships them (tools/scheduler_binaries.sh puts
    them under crds/ beside the binaries)."""
    return [
        document
        for file in sorted((binaries / "crds").glob("*.yaml"))
        for document in yaml.safe_load_all(file.read_text())
        if document
    ]
