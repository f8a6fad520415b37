"""The `scheduler` section: which scheduler enforces the organisation's
quotas and priorities, and the KAI Scheduler's settings."""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import Field, model_validator

from stacks.base import Chart, Section

# Kubernetes reserves values above one billion for system-critical classes.
SYSTEM_CRITICAL = 1_000_000_000
# On both schedulers a class at or above this value is non-preemptible and
# runs within quota only.
NON_PREEMPTIBLE = 100
# Run:ai creates these itself (a 2.x install lists them); the stack only names them.
RUNAI_PRIORITY_CLASSES = {
    "train": 50,
    "train-high": 55,
    "train-critical": 60,
    "interactive-preemptible": 75,
    "build": 100,
    "inference": 125,
}


class SchedulerKind(StrEnum):
    RUNAI = "runai"  # the Run:ai control plane and cluster
    KAI = "kai"  # NVIDIA's open-source KAI Scheduler


class Oidc(Section):
    """The identity provider the API server trusts for people on the KAI path
    (there is no Run:ai identity service there)."""

    issuer_url: str = Field(pattern=r"^https://", description="must be https")
    client_id: str = Field(min_length=1)
    username_claim: str = "email"
    groups_claim: str = "groups"
    username_prefix: str = "oidc:"
    """Prefixes keep IdP identities apart from Kubernetes' own; RoleBindings name subjects with them."""
    groups_prefix: str = "oidc:"

    def api_server_flags(self) -> dict[str, str]:
        return {
            "oidc-issuer-url": self.issuer_url,
            "oidc-client-id": self.client_id,
            "oidc-username-claim": self.username_claim,
            "oidc-groups-claim": self.groups_claim,
            "oidc-username-prefix": self.username_prefix,
            "oidc-groups-prefix": self.groups_prefix,
        }


# The chart creates these PriorityClasses itself; from this release on it
# can be told not to (`defaultPriorityClasses.enabled`).
CHART_CLASSES = ("train", "build-preemptible", "build", "inference")
CHART_WITHOUT_CLASSES = (0, 16, 1)


class KaiConfig(Section):
    # The LTS line (v0.16), published by the kai-scheduler organisation.
    chart: Chart = Chart(
        repository="oci://ghcr.io/kai-scheduler/kai-scheduler", name="kai-scheduler", version="v0.16.8"
    )
    """`{repository, name, version}`; point it at a mirror when air-gapped; the version must be exact; before v0.16.1
    the chart creates PriorityClasses of the stack's names itself and is refused"""
    # false where the scheduler (and its CRDs) is installed by other means.
    install_chart: bool = True
    """`false` where the scheduler is installed by other means"""
    namespace: str = "kai-scheduler"
    """the chart's namespace"""
    gpu_sharing: bool = False
    """fractional GPUs (the chart's `global.gpuSharing`)"""
    scheduler_name: str = "kai-scheduler"
    """what pods put in `spec.schedulerName`"""
    # Pods name their leaf queue with this label (`runai/queue` before v0.6.0).
    queue_label: str = "kai.scheduler/queue"
    """the pod label naming a leaf queue (`runai/queue` before KAI v0.6.0)"""
    # The stack creates these on this path; KAI's own values by default.
    priority_classes: dict[str, int] = Field(
        default_factory=lambda: {"train": 50, "build-preemptible": 75, "build": 100, "inference": 125}
    )
    """created by the stack on this path; 100 and above are non-preemptible and run in quota only"""
    # The class pods without one get (at most one class may be the default).
    global_default_priority_class: str | None = None
    """the class for pods that name none"""
    # Who people are: kube-apiserver OIDC flags (set by kubeadm here, or by
    # whoever runs an existing cluster) and the subjects' prefixes.
    oidc: Oidc | None = None
    """the identity provider the API server trusts: `issuerUrl` (https), `clientId`, `usernameClaim` (`email`),
    `groupsClaim` (`groups`), `usernamePrefix` and `groupsPrefix` (`oidc:`). kubeadm clusters get the `--oidc-*`
    flags; for an existing cluster they are the `apiServerOidcFlags` stack output for its admin. RoleBindings name
    users and groups with the prefixes"""

    @model_validator(mode="after")
    def _classes(self) -> KaiConfig:
        for name, value in self.priority_classes.items():
            if not 0 <= value < SYSTEM_CRITICAL:
                raise ValueError(
                    f"priorityClasses.{name}: {value} is outside 0..{SYSTEM_CRITICAL - 1} "
                    "(higher values are reserved for system-critical pods)"
                )
        release = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", self.chart.version)
        clash = [name for name in CHART_CLASSES if name in self.priority_classes]
        if self.install_chart and clash and release and tuple(map(int, release.groups())) < CHART_WITHOUT_CLASSES:
            raise ValueError(
                f"chart.version: {self.chart.version} creates PriorityClasses {', '.join(clash)} itself, as the "
                "stack does: use v0.16.1 or later (or rename the stack's priorityClasses)"
            )
        default = self.global_default_priority_class
        if default is not None and default not in self.priority_classes:
            raise ValueError(
                f"globalDefaultPriorityClass: {default!r} is not in priorityClasses "
                f"({', '.join(self.priority_classes)})"
            )
        return self


class SchedulerConfig(Section):
    kind: SchedulerKind = SchedulerKind.RUNAI
    """`runai` or `kai`"""
    kai: KaiConfig = KaiConfig()

    @property
    def oidc(self) -> Oidc | None:
        """The KAI path's identity provider; none on the Run:ai path."""
        return self.kai.oidc if self.kind is SchedulerKind.KAI else None

    def priority_classes(self) -> dict[str, int]:
        """The classes workloads can name on this path."""
        return self.kai.priority_classes if self.kind is SchedulerKind.KAI else RUNAI_PRIORITY_CLASSES
