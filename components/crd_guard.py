"""Keeps a layer's CRDs while they hold user objects. A layer turned off (or
a stack destroyed) deletes its manifests, and deleting a CRD deletes every
object stored under it: this resource depends on those manifests, so the
engine deletes it first, and its delete refuses while any of the CRDs holds
objects. The manifests then stay, and the message says what holds them."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from components.kube_api import KubeApi, count_objects, crd_path
from components.managed import secret_outputs
from components.providers import ProviderInputs


def in_use(api: KubeApi, crds: list[str]) -> dict[str, int]:
    counts = {}
    for name in crds:
        crd = api.get(crd_path(name))
        if crd is not None:
            counts[name] = count_objects(api, crd)
    return {name: count for name, count in counts.items() if count}


class CrdGuardInputs(ProviderInputs):
    layer: str
    crds: list[str]
    kubeconfig: str  # secret


class CrdGuardProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = CrdGuardInputs.of(props)
        return dynamic.CreateResult(id_=given.layer, outs=given.props())

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        return dynamic.UpdateResult(outs=CrdGuardInputs.of(news).props())

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        given = CrdGuardInputs.of(props)
        busy = in_use(KubeApi(given.kubeconfig), given.crds)
        if busy:
            held = ", ".join(f"{name} holds {count}" for name, count in sorted(busy.items()))
            raise RuntimeError(
                f"{given.layer}: {held} object(s); removing the layer would delete them with their CRDs. "
                f"Delete them first, or keep the layer ({given.layer}.enabled: true)"
            )


class CrdGuard(dynamic.Resource):
    def __init__(
        self,
        name: str,
        *,
        layer: str,
        crds: list[str],
        kubeconfig: pulumi.Output[str],
        opts: pulumi.ResourceOptions,
    ) -> None:
        props = {"layer": layer, "crds": crds, "kubeconfig": pulumi.Output.secret(kubeconfig)}
        super().__init__(CrdGuardProvider(), name, props, secret_outputs(opts, "kubeconfig"))
