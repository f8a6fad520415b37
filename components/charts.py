"""Helm releases from the stack's chart settings."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from stacks.base import Chart

# A chart repository's user and (secret) password.
RepositoryLogin = tuple[str, pulumi.Output[str]]


def chart_args(chart: Chart, login: RepositoryLogin | None = None) -> dict[str, Any]:
    """A Release's chart, version and repository: OCI references are whole,
    a local directory holds `<name>-<version>.tgz`, classic repositories go in
    repository_opts (with `login` for one that needs it)."""
    if chart.local:
        return {"chart": f"{chart.repository.rstrip('/')}/{chart.name}-{chart.version}.tgz"}
    if chart.repository.startswith("oci://"):
        return {"chart": f"{chart.repository}/{chart.name}", "version": chart.version}
    return {
        "chart": chart.name,
        "version": chart.version,
        "repository_opts": k8s.helm.v3.RepositoryOptsArgs(
            repo=chart.repository, **({"username": login[0], "password": login[1]} if login else {})
        ),
    }


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override` laid over it, nested mappings merged key by key
    (the stack's `values` refine ours rather than replace whole sections)."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merged(result[key], value)
        else:
            result[key] = value
    return result


def release(
    name: str,
    chart: Chart,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    overrides: dict[str, Any] | None = None,
    timeout: int = 600,
    release_name: str | None = None,
    skip_await: bool = False,
    login: RepositoryLogin | None = None,
) -> k8s.helm.v3.Release:
    """One chart installed in its own namespace, waiting until it is ready
    (unless `skip_await`)."""
    return k8s.helm.v3.Release(
        name,
        name=release_name or chart.name,
        skip_await=skip_await,
        namespace=namespace,
        create_namespace=True,
        values=merged(values, overrides or {}),
        timeout=timeout,
        **chart_args(chart, login),
        opts=opts,
    )
