"""What every component of ours shares: the label on every Kubernetes object
this program creates (so they can be found, and shown to be gone after a
destroy), children that wait for what their component waits for, and the
options that keep a dynamic resource's secret inputs secret."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi

from stacks.model import StackConfig

MANAGED_BY = {"app.kubernetes.io/managed-by": "runai-cluster"}


class Component(pulumi.ComponentResource):
    """A ComponentResource whose children inherit its `depends_on`: Pulumi
    records a component's dependencies but does not make its children wait
    for them, so a layer would otherwise start before the one below it."""

    def __init__(self, type_: str, name: str, opts: pulumi.ResourceOptions | None) -> None:
        super().__init__(type_, name, None, opts)
        waits = opts.depends_on if opts and opts.depends_on else []
        self._waits_for: list[Any] = list(waits) if isinstance(waits, list) else [waits]

    def child(self, depends_on: list[Any] | None = None, **options: Any) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, depends_on=[*self._waits_for, *(depends_on or [])], **options)


@dataclass(frozen=True)
class OnCluster:
    """What every cluster layer is built from: the stack's settings, and the
    admin kubeconfig for the guards that read the cluster before a change."""

    config: StackConfig
    kubeconfig: pulumi.Output[str]


def secret_outputs(opts: pulumi.ResourceOptions | None, *names: str) -> pulumi.ResourceOptions:
    """`opts`, with these properties kept secret in the resource's outputs too:
    a dynamic provider hands its inputs back as outputs, where a secret input
    would otherwise land in plain text."""
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=list(names)))
