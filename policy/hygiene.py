"""Pinned versions and no secrets in plain places, on every Kubernetes object
and Helm release the stack declares."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from pulumi_policy import EnforcementLevel, ReportViolation, ResourceValidationArgs, ResourceValidationPolicy

HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
# What a secret looks like when it has leaked: a private key, kubeconfig
# credentials, a JWT, a basic-auth URL.
_SECRET_SHAPES = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"\b(client-key-data|client-certificate-data|token):\s*\S{16,}"), "kubeconfig credentials"),
    (re.compile(r"\beyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{8,}"), "a JWT"),
    (re.compile(r"://[^/\s:@]+:[^/\s@]+@"), "a password in a URL"),
]


def _images(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "image" and isinstance(item, str):
                # Operator CRs (NicClusterPolicy) name the tag beside the image.
                tag = value.get("version", value.get("tag"))
                yield where, f"{item}:{tag}" if isinstance(tag, str) and tag and ":" not in item else item
            else:
                yield from _images(item, where)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _images(item, f"{path}[{index}]")


def unpinned(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    problems = []
    if resource_type == HELM_RELEASE:
        version = str(props.get("version") or "")
        if str(props.get("chart", "")).endswith(".tgz"):
            version = "archive"  # a local <name>-<version>.tgz: the file is the pin
        if not version or version == "latest" or version[0] in "^~>*":
            problems.append(
                f"Helm release '{name}': chart version {version or '(none)'} is not pinned: set an exact version "
                "in the stack"
            )
    for where, image in _images(dict(props)):
        last = image.rsplit("/", 1)[-1]
        if "@sha256:" not in image and (":" not in last or last.endswith(":latest")):
            problems.append(f"'{name}' {where}: image {image} is not pinned: give it a version tag or a digest")
    return problems


def plain_secrets(resource_type: str, name: str, props: Mapping[str, Any]) -> list[str]:
    metadata = props.get("metadata") or {}
    places: dict[str, Any] = {
        "labels": metadata.get("labels") or {},
        "annotations": metadata.get("annotations") or {},
    }
    if resource_type == "kubernetes:core/v1:ConfigMap":
        places["data"] = props.get("data") or {}
    problems = []
    for place, entries in places.items():
        for key, value in entries.items():
            for shape, what in _SECRET_SHAPES:
                if isinstance(value, str) and shape.search(value):
                    problems.append(
                        f"'{name}' {place}.{key} holds {what} in plain text: keep it in a Kubernetes Secret fed "
                        "from a Pulumi secret"
                    )
    return problems


def _kubernetes_rule(check: Any) -> Any:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if not args.resource_type.startswith("kubernetes:"):
            return
        for message in check(args.resource_type, args.name, args.props):
            report(message)

    return validate


POLICIES = [
    ResourceValidationPolicy(
        name="pinned-versions",
        description="Every chart version and image tag pinned, never `latest`.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_kubernetes_rule(unpinned),
    ),
    ResourceValidationPolicy(
        name="no-plain-secrets",
        description="No private key, credential or token in a ConfigMap, label or annotation.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=_kubernetes_rule(plain_secrets),
    ),
]
