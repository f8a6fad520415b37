"""Sections that later layers fill in.

Each is typed and refuses unknown keys, so a setting written before its layer
exists fails loudly instead of being ignored."""

from __future__ import annotations

from pydantic import Field

from stacks.base import Section


class AddonsConfig(Section):
    """CNI, MetalLB, ingress, Prometheus, GPU/Network Operators, Knative,
    Training and MPI operators."""


class RunaiConfig(Section):
    """Run:ai control plane, identity and cluster (the version so far: the
    policy pack checks the cluster's versions against its support matrix)."""

    version: str = Field("2.20", pattern=r"^2\.\d+$", description="Run:ai minor version, e.g. 2.20")


class ValidationConfig(Section):
    """Opt-in validation jobs."""
