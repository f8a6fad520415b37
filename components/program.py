"""The program: validate the stack config, build the graph, export outputs."""

from __future__ import annotations

import pulumi

from components import runtime_tuning
from components.cluster import Cluster
from components.kubeadm.rollout import upgrade_stages
from components.layers import dns_records
from components.runai.researcher import researcher_kubeconfig_output
from stacks.cluster import Bootstrap
from stacks.load import StackConfigError, load_stack
from stacks.scheduling import SchedulerKind


def build() -> Cluster:
    runtime_tuning.apply()
    try:
        stack = load_stack()
    except StackConfigError as error:
        raise pulumi.RunError(f"invalid stack config for '{pulumi.get_stack()}':\n{error}") from None
    cluster = Cluster(stack.config.cluster.name, stack)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("nodes", {node.name: node.address for node in stack.config.nodes})
    # The A records the site's DNS must hold (ingress and Kourier addresses).
    pulumi.export("dnsRecords", dns_records(stack.config))
    pulumi.export("preflight", cluster.preflight.reports if cluster.preflight else {})
    config = stack.config
    if config.cluster.bootstrap is Bootstrap.KUBEADM:
        # The order a change of kubernetesVersion rolls out in.
        pulumi.export("upgradeStages", upgrade_stages(config))
        # The earliest kubeadm certificate expiry per control plane (current
        # after `pulumi refresh`); renewed inside cluster.certificates.renewWithinDays.
        pulumi.export("certificateExpiry", {name: cert.earliest for name, cert in cluster.certificates.items()})
    if config.oidc_flags:
        # kubeadm clusters get them; an existing cluster's admin sets them.
        pulumi.export("apiServerOidcFlags", config.oidc_flags)
    if config.scheduler.kind is SchedulerKind.RUNAI and config.runai.researcher_authentication:
        pulumi.export(
            "researcherKubeconfig", researcher_kubeconfig_output(config.runai, config.cluster.name, cluster.kubeconfig)
        )
    if cluster.runai_application is not None:
        # What the stack signs in to Run:ai as (its secret stays in the state, encrypted).
        pulumi.export("runaiApplication", cluster.runai_application)
    if cluster.runai_sso is not None:
        # The identity provider needs both values back (its redirect URI, SAML's entity ID).
        pulumi.export("runaiSso", cluster.runai_sso)
    organisation = cluster.organisation
    if organisation is not None and organisation.users:
        # Temporary passwords, each shown once by Run:ai; users change them at first sign-in.
        pulumi.export("runaiUserPasswords", {email: user.once for email, user in organisation.users.items()})
    if organisation is not None and organisation.applications:
        # Each application's secret, shown once by Run:ai (a new one: POST /api/v1/apps/<id>/secret).
        pulumi.export("runaiApplicationSecrets", {app: made.once for app, made in organisation.applications.items()})
    return cluster
