"""Stand-ins for upstream charts and manifests, written by the tests that
need them (no chart or manifest can be downloaded here). Each is ours and
tiny: enough to be applied, rendered and read, never the upstream content."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import yaml

from tools.lab.crds import mpijob_crd

TRAINING_IMAGE = "standin.example/training-operator:v1.8.1"
TRAINING_OPERATOR = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "training-operator",
        "namespace": "kubeflow",
        # No kubelet runs pods in the lab: do not wait for readiness.
        "annotations": {"pulumi.com/skipAwait": "true"},
    },
    "spec": {
        "selector": {"matchLabels": {"app": "training-operator"}},
        "template": {
            "metadata": {"labels": {"app": "training-operator"}},
            "spec": {
                "containers": [{"name": "training-operator", "image": "standin.example/training-operator:v1.8.1"}]
            },
        },
    },
}


def training_sources(directory: Path) -> tuple[Path, Path]:
    """A kustomize overlay like the Training Operator's (its v1 MPIJob CRD
    and a Deployment) and a manifest like the MPI Operator's (the v2beta1 CRD)."""
    overlay = directory / "training-operator"
    overlay.mkdir(parents=True)
    parts = {
        "namespace.yaml": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeflow"}},
        "crd.yaml": mpijob_crd("v1"),
        "deployment.yaml": TRAINING_OPERATOR,
    }
    for name, document in parts.items():
        (overlay / name).write_text(yaml.safe_dump(document))
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({"resources": list(parts)}))
    mpi = directory / "mpi-operator.yaml"
    mpi.write_text(yaml.safe_dump(mpijob_crd("v2beta1")))
    return overlay, mpi


def chart_archive(directory: Path, name: str, version: str, templates: dict[str, Any]) -> Path:
    """`<directory>/<name>-<version>.tgz`, as `helm package` lays it out;
    template values are YAML documents or raw template text."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {
        "Chart.yaml": yaml.safe_dump({"apiVersion": "v2", "name": name, "version": version, "appVersion": version})
    }
    for file, body in templates.items():
        files[f"templates/{file}"] = body if isinstance(body, str) else yaml.safe_dump(body)
    archive = directory / f"{name}-{version}.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for file, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}/{file}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return archive
