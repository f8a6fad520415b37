"""Objects that hold workloads or data are protected in production, so the
engine refuses to delete or replace them (a renamed project would otherwise
be a delete and a create that drops its workloads and data)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    StackValidationArgs,
    StackValidationPolicy,
)
from resources import QUEUE, inventories, metadata_name, stack_rule

GUARDED = {
    "kubernetes:core/v1:Namespace": "namespace",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": "CRD",
    "kubernetes:core/v1:PersistentVolumeClaim": "PVC",
    QUEUE: "queue (department or project)",
}


def unprotected(resources: list[tuple[str, str, str, bool]], allowed: set[str]) -> list[str]:
    """`resources`: (type, object name, resource name, protect); `allowed`
    may name either."""
    return [
        f"{GUARDED[kind]} '{name}' is not protected in production: keep `protect` on it; to delete it on "
        f"purpose, run `pulumi state unprotect` on its URN or list '{name}' in this policy's `unprotected`"
        for kind, name, resource_name, protect in resources
        if kind in GUARDED and not protect and not {name, resource_name} & allowed
    ]


def stack_protection(args: StackValidationArgs) -> list[str]:
    if not any(inventory.get("environment") == "prod" for _, inventory in inventories(args)):
        return []
    found = [(r.resource_type, metadata_name(r), r.name, bool(r.opts.protect)) for r in args.resources]
    return unprotected(found, set(args.get_config().get("unprotected") or []))


POLICIES = [
    StackValidationPolicy(
        name="production-protection",
        description="Namespaces, CRDs, PVCs, departments and projects are protected in production.",
        enforcement_level=EnforcementLevel.MANDATORY,
        validate=stack_rule(stack_protection),
        config_schema=PolicyConfigSchema(
            properties={
                "unprotected": {
                    "description": "Object names allowed without protection (to be deleted on purpose).",
                    "type": "array",
                    "items": {"type": "string"},
                    "default": [],
                }
            }
        ),
    )
]
