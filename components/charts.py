"""Helm charts from the stack's chart settings."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s

from stacks.base import Chart


def chart_args(chart: Chart) -> dict[str, Any]:
    """A Release's chart, version and repository: OCI references are whole,
    classic repositories go in repository_opts."""
    if chart.repository.startswith("oci://"):
        return {"chart": f"{chart.repository}/{chart.name}", "version": chart.version}
    return {
        "chart": chart.name,
        "version": chart.version,
        "repository_opts": k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
    }
