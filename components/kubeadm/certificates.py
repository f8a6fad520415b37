"""kubeadm certificate expiry and renewal, per control plane.

A `CertificateRenewal` reads every certificate kubeadm renews (create, and
`pulumi refresh` / `up --refresh`, which call read) and keeps the dates as
outputs; the stack output `certificateExpiry` shows the earliest per control
plane. When the earliest stored date falls inside `cluster.certificates
.renewWithinDays`, the diff reports a change, so the preview shows the renewal
before `up` runs it (`kubeadm certs renew all`, with the stack's
`validityDays` when it is not kubeadm's year; static pods restarted)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pulumi
from pulumi import dynamic
from pydantic import Field

from components.connection import NodeAccess
from components.managed import secret_outputs
from components.providers import ProviderInputs
from components.remote.command import run_steps, step
from components.scripts import render_script
from stacks.cluster import DEFAULT_CERTIFICATE_DAYS

_SCRIPT = Path(__file__).parent / "certificates.sh"
_DAY = 86400
# The kubelet sees a manifest go or come back at once (inotify), or at its
# next look (every 20 seconds); a component may take a while to start.
STATIC_POD_TIMEOUT = 120


def parse_expiry(stdout: str) -> dict[str, int]:
    """`CERT name epoch` lines -> {name: epoch}."""
    found = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "CERT":
            found[words[1]] = int(words[2])
    return found


def renewal_due(expiry: dict[str, int], within_days: int, now: float | None = None) -> bool:
    return bool(expiry) and min(expiry.values()) - (now or time.time()) < within_days * _DAY


def _run(phase: str, given: CertificateRenewalInputs) -> str:
    script = render_script(_SCRIPT, {"PHASE": phase, "STATIC_POD_TIMEOUT": str(STATIC_POD_TIMEOUT)})
    return run_steps([step(phase, "node", script)], given.connections, {"CERTIFICATE_DAYS": str(given.validity_days)})


class CertificateRenewalInputs(ProviderInputs):
    name: str
    connections: str  # JSON: the control plane's SSH connection (secret)
    hosts: dict[str, str]
    renew_within_days: int
    # State written before the lifetime was an input has none: kubeadm's year.
    validity_days: int = DEFAULT_CERTIFICATE_DAYS
    expiry: dict[str, int] = Field(default_factory=dict)  # outputs: per certificate
    earliest: str = ""

    def probed(self, stdout: str) -> dict[str, Any]:
        expiry = parse_expiry(stdout)
        earliest = min(expiry.values()) if expiry else 0
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(earliest)) if earliest else ""
        return {**self.props(), "expiry": expiry, "earliest": stamp}


class CertificateRenewalProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = CertificateRenewalInputs.of(props)
        stdout = _run("probe", given)
        return dynamic.CreateResult(id_=given.name, outs=given.probed(stdout))

    def read(self, id_: str, props: dict[str, Any]) -> dynamic.ReadResult:
        given = CertificateRenewalInputs.of(props)
        return dynamic.ReadResult(id_=id_, outs=given.probed(_run("probe", given)))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        old, new = CertificateRenewalInputs.of(olds), CertificateRenewalInputs.of(news)
        due = renewal_due(old.expiry, new.renew_within_days)
        moved = old.hosts != new.hosts or old.renew_within_days != new.renew_within_days
        return dynamic.DiffResult(changes=due or moved, replaces=[], delete_before_replace=False)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        old, new = CertificateRenewalInputs.of(olds), CertificateRenewalInputs.of(news)
        due = renewal_due(old.expiry, new.renew_within_days)
        return dynamic.UpdateResult(outs=new.probed(_run("renew" if due else "probe", new)))


class CertificateRenewal(dynamic.Resource):
    """Expiry of one control plane's kubeadm certificates (`expiry`, per
    certificate, and `earliest`), renewed inside the window."""

    expiry: pulumi.Output[dict[str, int]]
    earliest: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        access: NodeAccess,
        renew_within_days: int,
        validity_days: int,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            CertificateRenewalProvider(),
            name,
            {
                "name": name,
                "connections": access.alone,
                "hosts": access.hosts,
                "renew_within_days": renew_within_days,
                "validity_days": validity_days,
                "expiry": None,
                "earliest": None,
            },
            secret_outputs(opts, "connections"),
        )
