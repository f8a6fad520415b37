"""The `runai` section: the Run:ai version, and the control plane whose API
keeps the organisation (node pools, departments, projects)."""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator, model_validator

from stacks.base import Chart, Section, check_host
from stacks.compat import accepted
from stacks.org import APPLICATION_NAME

_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


class Registry(Section):
    """Pull credentials every workload in the cluster may use (e.g. nvcr.io
    with user `$oauthtoken` and an NGC key). The password is the secret
    `runaiRegistryPassword-<name>`."""

    name: str = Field(pattern=r"^[a-z][-a-z0-9]*[a-z0-9]$")
    url: str = Field(min_length=1)
    user: str = Field(min_length=1)


class ExternalPostgres(Section):
    """The control plane's database outside the cluster; its password is the
    runaiPostgresPassword secret."""

    host: Annotated[str, AfterValidator(check_host)]
    port: int = Field(5432, ge=1, le=65535)
    username: str = Field("runai", min_length=1)
    database: str = Field("backend", min_length=1)
    """The control plane's database, dumped into every backup."""


class ChartSource(StrEnum):
    """Where Run:ai's charts and images come from: JFrog up to 2.24, NVIDIA's
    NGC registry from 2.25 (JFrog is retired there)."""

    JFROG = "jfrog"
    NGC = "ngc"


NGC_FROM_MINOR = 25
# From 2.24 automation signs in as a service account (/api/v1/service-accounts);
# the applications API (/api/v1/apps) is deprecated there.
SERVICE_ACCOUNTS_FROM_MINOR = 24
NGC_CHARTS = "https://helm.ngc.nvidia.com/nvidia/runai"
# Who pulls from each source: NGC takes any account's API key as this user.
PULL = {
    ChartSource.JFROG: ("https://runai.jfrog.io", "self-hosted-image-puller-prod"),
    ChartSource.NGC: ("nvcr.io", "$oauthtoken"),
}
CHART_REPOSITORIES = {
    ChartSource.JFROG: {
        "control-plane": "https://runai.jfrog.io/artifactory/cp-charts-prod",
        "runai-cluster": "https://runai.jfrog.io/artifactory/api/helm/run-ai-charts",
    },
    ChartSource.NGC: {"control-plane": NGC_CHARTS, "runai-cluster": NGC_CHARTS},
}


class ControlPlaneInstall(Section):
    """The self-hosted control plane (namespace runai-backend), installed by
    this stack on this cluster at runai.url's host. The certificate's key is
    the runaiTlsKey secret; the token for Run:ai's registry (an NGC API key
    from 2.25) the runaiRegistryToken secret (leave it unset when the charts
    and images are mirrored)."""

    install: bool = False
    """install the self-hosted control plane on this cluster (needs `url`, `tlsCertificate` and the `runaiTlsKey`
    secret)"""
    # Unset: Run:ai's chart at runai.version (JFrog up to 2.24, NGC from 2.25).
    chart: Chart | None = None
    """unset: control-plane `<version>.0` from runai.jfrog.io (NGC from 2.25)"""
    # PEM certificate (chain) for the domain.
    tls_certificate: str | None = None
    """PEM chain for the url's host"""
    external_postgres: ExternalPostgres | None = None
    """`{host, port (5432), username (runai), database (backend, dumped into backups)}`; password: the
    `runaiPostgresPassword` secret"""
    # The bundled database's volume (chart default when unset); Run:ai's
    # control plane needs about 110 GB of volumes in all.
    database_size_gb: int | None = Field(None, ge=10)
    """size of the bundled PostgreSQL's volume (at least 10; the control plane needs about 110 GB of volumes in all)
    (default: the chart's)"""
    # Unset: the source's own (JFrog's image puller, or NGC's $oauthtoken).
    image_pull_user: str | None = None
    """user for Run:ai's registry (token: the `runaiRegistryToken` secret) (default: `self-hosted-image-puller-prod` up
    to 2.24, `$oauthtoken` (NGC) from 2.25)"""
    values: dict[str, Any] = Field(default_factory=dict)
    """laid over ours"""


class ClusterInstall(Section):
    """The Run:ai cluster chart (namespace runai) on this cluster, registered
    with the control plane unless runai.clusterId names a registered one."""

    install: bool = False
    """register this cluster and install the Run:ai cluster chart"""
    # The name the control plane shows; defaults to cluster.name.
    name: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    """the name the control plane shows (default: `cluster.name`)"""
    # Unset: Run:ai's chart at runai.version (JFrog up to 2.24, NGC from 2.25).
    chart: Chart | None = None
    """unset: runai-cluster `<version>.0` from runai.jfrog.io (NGC from 2.25)"""
    # Merged into the RunaiConfig `runai` spec, e.g.
    # {"workload-controller": {"externalAuthUrlEnabled": false}}.
    runai_config: dict[str, Any] = Field(default_factory=dict)
    """keys of the `runai` RunaiConfig's spec, applied server-side"""
    values: dict[str, Any] = Field(default_factory=dict)
    """laid over ours"""


class RunaiAdmin(Section):
    """The control plane's first administrator. With the runaiAdminPassword
    secret the stack signs in as them to replace the initial password with
    that secret and to make its own application (System administrator, its
    secret a Pulumi secret); every other call is the application's."""

    email: str = Field("test@run.ai", pattern=r"^[^@\s]+@[^@\s]+$")
    """the control plane's first administrator, signed in as with `runaiAdminPassword`"""
    # What a fresh control plane accepts: the chart's documented first
    # password, useless once the stack has replaced it.
    initial_password: str = Field("Abcd!234", min_length=1)
    """the password a fresh control plane accepts (the chart's documented default), replaced by `runaiAdminPassword`"""
    application: str = Field("runai-cluster-stack", pattern=APPLICATION_NAME)
    """the application the stack makes for itself (lowercase, digits, `-`, `_`)"""


class SsoType(StrEnum):
    OIDC = "oidc"
    SAML = "saml"


class SsoAttributes(Section):
    """Which of the identity provider's attributes (claims) Run:ai reads for
    each user attribute; unset ones keep Run:ai's defaults."""

    uid: str | None = None
    gid: str | None = None
    groups: str | None = None
    supplementary_groups: str | None = None
    email: str | None = None


class MandatoryClaim(Section):
    """Only users whose token carries this claim with one of these values may
    sign in."""

    claim: str = Field(pattern=r".*[a-zA-Z].*")
    values: list[Annotated[str, Field(pattern=r"^\S*[a-zA-Z]\S*$")]] = Field(min_length=1)


class Sso(Section):
    """Single sign-on: OpenID Connect with the provider's discovery
    URL, client id and the runaiSsoClientSecret secret; or SAML by metadata
    URL. The redirect URI (and SAML entity ID) the provider needs back are
    the `runaiSso` stack output."""

    type: SsoType = SsoType.OIDC
    discovery_url: str | None = Field(None, pattern=r"^https://\S+$")
    client_id: str | None = Field(None, min_length=1)
    scopes: list[Annotated[str, Field(pattern=r"^[a-zA-Z0-9-._:]+$")]] = Field(default_factory=list)
    mandatory_claim: MandatoryClaim | None = None
    metadata_url: str | None = Field(None, pattern=r"^https://\S+$")
    attributes: SsoAttributes = SsoAttributes()

    @model_validator(mode="after")
    def _complete(self) -> Sso:
        if self.type is SsoType.OIDC and not (self.discovery_url and self.client_id):
            raise ValueError("oidc needs discoveryUrl (the provider's .well-known/openid-configuration) and clientId")
        if self.type is SsoType.SAML and not self.metadata_url:
            raise ValueError("saml needs metadataUrl (the provider's SAML metadata XML)")
        return self


class WorkloadSettingKey(StrEnum):
    ENABLE_POLICIES = "enablePolicies"
    WORKLOAD_SUBMISSION_V2 = "workloadSubmissionV2Enabled"
    ENABLE_TEMPLATES_V2 = "enableTemplatesV2"
    ENABLE_HYBRID_SUBMISSION = "enableHybridSubmission"
    GPU_OVER_PROVISIONING = "gpuOverProvisioning"
    APPLICATION_SUBMISSION = "applicationSubmission"


class RunaiConfig(Section):
    """The stack acts on the control plane as an application: its own, made
    with the runaiAdminPassword secret, or one made by hand (clientId, its
    secret runaiClientSecret)."""

    # The newest minor runapy (the API client, requirements.txt) covers.
    version: str = "2.24"
    """Run:ai minor version, one of the supported versions (see docs/runai.md); the model and the policy pack check
    the installed components against its support matrix; an upgrade moves at most four minors"""
    # The control plane's URL; with it the organisation is kept in Run:ai.
    url: str | None = None
    """the control plane (`https://runai.example.com`); with it, the organisation is kept in Run:ai"""
    # An application made by hand for the stack to act as (its secret
    # runaiClientSecret); without it the stack makes its own (admin below).
    client_id: str | None = None
    """an application made by hand for the stack to act as (its secret: `runaiClientSecret`), instead of the one the
    stack makes with `runaiAdminPassword`; give it the rights to manage node pools, departments and projects"""
    admin: RunaiAdmin = RunaiAdmin()
    # The registered cluster (unless cluster.install registers it).
    cluster_id: str | None = Field(None, pattern=_UUID)
    """the UUID of a cluster registered by hand (not with `cluster.install`)"""
    # The organisation's CA, to verify the control plane's certificate.
    ca_file: str | None = None
    """the organisation's CA, to verify the control plane's certificate"""
    registries: list[Registry] = Field(default_factory=list)
    """`{name, url, user}`: pull credentials for the whole cluster (e.g. `nvcr.io`, user `$oauthtoken`); each password
    is the secret `runaiRegistryPassword-<name>`"""
    control_plane: ControlPlaneInstall = ControlPlaneInstall()
    cluster: ClusterInstall = ClusterInstall()
    # Researchers sign in through Run:ai's identity service: the API server
    # trusts its realm (flags below), and a kubeconfig template is exported.
    # Tenant-wide workloads settings by key (e.g. enablePolicies on).
    workload_settings: dict[WorkloadSettingKey, bool] = Field(default_factory=dict)
    """Run:ai 2.25+: tenant-wide workloads settings by key (`enablePolicies`, `workloadSubmissionV2Enabled`,
    `enableTemplatesV2`, `enableHybridSubmission`, `gpuOverProvisioning`, `applicationSubmission`); workload
    policies need `enablePolicies: true`. Removing one leaves the setting as it is"""
    researcher_authentication: bool = False
    """kube-apiserver trusts Run:ai's realm; outputs `apiServerOidcFlags` and `researcherKubeconfig`"""
    sso: Sso | None = None
    """single sign-on (Run:ai 2.21+): `type` (`oidc` or `saml`); oidc: `discoveryUrl` (https), `clientId` (secret:
    `runaiSsoClientSecret`), `scopes`, `mandatoryClaim: {claim, values}`; saml: `metadataUrl`; both: `attributes:
    {uid, gid, groups, supplementaryGroups, email}`. Output `runaiSso`: the redirect URI (SAML: entity ID) to give
    the provider"""
    realm: str = Field("runai", pattern=r"^[-a-zA-Z0-9_]+$")
    """the identity service's realm"""

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        # Its API carries the administrator's password and the applications' secrets.
        if value is not None and not re.fullmatch(r"https://[^/\s]+", value):
            raise ValueError(f"{value!r}: write the control plane's address as https://<host> (TLS, no path)")
        return value

    @field_validator("version")
    @classmethod
    def _published(cls, value: str) -> str:
        if value not in accepted():
            raise ValueError(
                f"{value!r} has no Run:ai support matrix this stack could read (stacks/compatibility.json); "
                f"use one of {', '.join(accepted())}"
            )
        return value

    @model_validator(mode="after")
    def _complete(self) -> RunaiConfig:
        if (self.control_plane.install or self.cluster.install) and not self.url:
            raise ValueError("url: required to install Run:ai (https://<the Run:ai domain>)")
        if self.control_plane.install and not self.control_plane.tls_certificate:
            raise ValueError(
                "controlPlane.tlsCertificate: required to install the control plane (PEM for the url's host; "
                "its key is the runaiTlsKey secret)"
            )
        if self.researcher_authentication and not self.url:
            raise ValueError("researcherAuthentication: needs url (the identity service is the control plane's)")
        if self.cluster.install and self.cluster_id:
            raise ValueError(
                "clusterId: with cluster.install the stack registers the cluster itself; remove clusterId "
                "(or cluster.install to keep a cluster registered by hand)"
            )
        if self.url and not (self.cluster_id or self.cluster.install):
            raise ValueError(
                "url: also give clusterId (the registered cluster's UUID), or cluster.install: true to register "
                "and install the cluster"
            )
        if self.workload_settings and self.minor <= 24:
            raise ValueError(
                f"workloadSettings: Run:ai {self.version}'s API has no workloads settings (absent from its API "
                "through 2.24); switch them in the UI (Admin > General settings > Workloads), or set version 2.25 "
                "or later"
            )
        if self.sso and not self.url:
            raise ValueError("sso: needs url (the identity provider is added to that control plane)")
        if self.sso and self.minor < 21:
            raise ValueError(
                f"sso: Run:ai {self.version} has no identity-provider API (it arrived in 2.21); add the provider "
                "in the UI (Admin > Security > + Identity provider), or set version 2.21 or later"
            )
        names = [registry.name for registry in self.registries]
        if len(set(names)) != len(names):
            raise ValueError("registries: each name once")
        return self

    @property
    def minor(self) -> int:
        return int(self.version.split(".")[1])

    @property
    def automation(self) -> tuple[str, str]:
        """The API kind automation accounts (the stack's own, org.applications)
        are made as, and the subject type access rules name them by."""
        if self.minor >= SERVICE_ACCOUNTS_FROM_MINOR:
            return "serviceaccounts", "service-account"
        return "apps", "app"

    @property
    def chart_source(self) -> ChartSource:
        return ChartSource.NGC if self.minor >= NGC_FROM_MINOR else ChartSource.JFROG

    def chart(self, name: str, chart: Chart | None) -> Chart:
        """`chart` when the stack names one, else Run:ai's `name` chart at
        runai.version from the version's source."""
        repository = CHART_REPOSITORIES[self.chart_source][name]
        return chart or Chart(repository=repository, name=name, version=f"{self.version}.0")

    @property
    def control_plane_chart(self) -> Chart:
        return self.chart("control-plane", self.control_plane.chart)

    @property
    def cluster_chart(self) -> Chart:
        return self.chart("runai-cluster", self.cluster.chart)

    @property
    def pull_registry(self) -> tuple[str, str]:
        """The image registry and the user its token (runaiRegistryToken) is for."""
        server, user = PULL[self.chart_source]
        return server, self.control_plane.image_pull_user or user

    @property
    def charts_need_token(self) -> bool:
        """NGC serves Run:ai's charts only to an API key (runaiRegistryToken)."""
        installed = {self.control_plane_chart: self.control_plane.install, self.cluster_chart: self.cluster.install}
        return any(install and chart.repository == NGC_CHARTS for chart, install in installed.items())

    @functools.cached_property
    def ca_pem(self) -> str | None:
        """The organisation's CA, read once for every consumer."""
        return Path(self.ca_file).read_text() if self.ca_file else None

    @property
    def issuer_url(self) -> str:
        return f"{self.url}/auth/realms/{self.realm}"

    def api_server_flags(self) -> dict[str, str]:
        """What Run:ai's researcher authentication asks of kube-apiserver:
        trust the realm's tokens for client `runai`, usernames unprefixed."""
        if not self.researcher_authentication:
            return {}
        flags = {"oidc-client-id": "runai", "oidc-issuer-url": self.issuer_url, "oidc-username-prefix": "-"}
        if self.ca_file:
            # The realm's certificate is the organisation's: the control planes
            # get this file from the stack (components/kubeadm).
            flags["oidc-ca-file"] = OIDC_CA_FILE
        return flags

    @property
    def domain(self) -> str | None:
        return self.url.split("://", 1)[1] if self.url else None


# Under /etc/kubernetes/pki, which kubeadm mounts into kube-apiserver.
OIDC_CA_FILE = "/etc/kubernetes/pki/oidc-ca.crt"


def registry_secret(name: str) -> str:
    return f"runaiRegistryPassword-{name}"
