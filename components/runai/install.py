"""Run:ai installed by the stack: the self-hosted control plane (namespace
runai-backend) and the cluster (namespace runai) registered with it."""

from __future__ import annotations

import base64
import json
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.charts import RepositoryLogin, release
from components.managed import MANAGED_BY, Component
from components.runai.backend_upgrade import BackendUpgradePrep
from components.runai.identity import AdminPassword, Application
from components.runai.registration import ClusterRegistration
from components.runai.resources import runai_connection
from components.runai.sso import IdentityProvider
from stacks.load import Secrets
from stacks.model import StackConfig
from stacks.storage import Provisioner

BACKEND = "runai-backend"
CLUSTER = "runai"
CA_SECRET, CA_KEY = "runai-ca-cert", "runai-ca.pem"
# From 2.25 the cluster chart's install guide names the ingress class too.
CLUSTER_INGRESS_CLASS_FROM_MINOR = 25


def docker_config(server: str, user: str, token: pulumi.Output[str]) -> pulumi.Output[str]:
    def render(password: str) -> str:
        auth = base64.b64encode(f"{user}:{password}".encode()).decode()
        return json.dumps({"auths": {server: {"username": user, "password": password, "auth": auth}}})

    return pulumi.Output.secret(token).apply(render)


def control_plane_values(config: StackConfig, postgres_password: pulumi.Output[str] | None) -> dict[str, Any]:
    runai = config.runai
    values: dict[str, Any] = {
        "global": {
            "domain": runai.domain,
            "ingress": {"ingressClass": config.addons.ingress.class_name},
            "customCA": {"enabled": bool(runai.ca_file)},
        }
    }
    postgres = runai.control_plane.external_postgres
    persistence: dict[str, Any] = {}
    if config.storage.provisioner is not Provisioner.NONE:
        # The bundled database's volume on the class this stack makes (its
        # claim outlives an uninstall: StatefulSet claims are not deleted).
        persistence["storageClass"] = config.storage.class_name
    if runai.control_plane.database_size_gb:
        persistence["size"] = f"{runai.control_plane.database_size_gb}Gi"
    if postgres is None and persistence:
        values["postgresql"] = {"primary": {"persistence": persistence}}
    if postgres is not None:
        assert postgres_password is not None  # checked by load_stack
        values["postgresql"] = {"enabled": False}
        values["global"]["postgresql"] = {
            "auth": {
                "host": postgres.host,
                "port": postgres.port,
                "username": postgres.username,
                "password": postgres_password,
            }
        }
    return values


class RunaiInstall(Component):
    """The control plane (when the stack installs it), then the cluster's
    registration, chart and RunaiConfig settings (when it installs the
    cluster). `cluster_id` is the registered cluster's UUID."""

    def __init__(
        self,
        name: str,
        config: StackConfig,
        secrets: Secrets,
        kubeconfig: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("runai-cluster:runai:RunaiInstall", name, opts)
        runai = config.runai
        self._config = config
        self._kubeconfig = kubeconfig
        # Both namespaces get a copy.
        self._ca_pem = runai.ca_pem
        self.ready: list[pulumi.Resource] = []
        if runai.control_plane.install:
            self.ready.append(self._control_plane(name, secrets))
        self.application: pulumi.Output[str] | None = None
        self.connection = self._identity(name, secrets)
        self.sso: pulumi.Output[dict[str, str]] | None = None
        if runai.sso:
            provider = IdentityProvider(
                f"{name}-sso",
                sso=runai.sso,
                client_secret=secrets.runai_sso_client_secret,
                connection=self.connection,
                opts=self.child(depends_on=self.ready),
            )
            self.sso = provider.for_the_provider()
        self.cluster_id: pulumi.Input[str] | None = runai.cluster_id
        if runai.cluster.install:
            registration = ClusterRegistration(
                f"{name}-registration",
                cluster_name=runai.cluster.name or config.cluster.name,
                version=runai.version,
                domain=runai.domain or "",
                cluster_url=self.cluster_url,
                connection=self.connection,
                opts=self.child(depends_on=self.ready),
            )
            self.cluster_id = registration.uuid
            self.ready += self._cluster(name, registration, secrets)
        self.register_outputs({"clusterId": self.cluster_id, "application": self.application})

    def _identity(self, name: str, secrets: Secrets) -> pulumi.Output[str]:
        """Who the stack is on the control plane (see components.runai.identity):
        its own application once the control plane is up, or the one made by
        hand."""
        runai = self._config.runai
        if secrets.runai_admin_password is None:
            assert secrets.runai_client_secret is not None  # checked by load_stack
            return runai_connection(runai, secrets.runai_client_secret)
        password = AdminPassword(
            f"{name}-admin-password",
            runai=runai,
            password=secrets.runai_admin_password,
            opts=self.child(depends_on=self.ready),
        )
        application = Application(
            f"{name}-application",
            runai=runai,
            admin_password=secrets.runai_admin_password,
            opts=self.child(depends_on=[password]),
        )
        self.ready.append(application)
        self.application = application.client_id
        return application.connection(runai)

    @property
    def cluster_url(self) -> str:
        return f"https://{self._config.runai_host}"

    def _namespace(self, name: str, namespace: str) -> k8s.core.v1.Namespace:
        return k8s.core.v1.Namespace(
            name, metadata={"name": namespace, "labels": MANAGED_BY}, opts=self.child(protect=self._config.is_prod)
        )

    def _ca(self, name: str, namespace: k8s.core.v1.Namespace) -> list[pulumi.Resource]:
        """The organisation's CA, which Run:ai's services trust (customCA)."""
        if self._ca_pem is None:
            return []
        ca = k8s.core.v1.Secret(
            name,
            metadata={"name": CA_SECRET, "namespace": namespace.metadata["name"], "labels": MANAGED_BY},
            string_data={CA_KEY: self._ca_pem},
            opts=self.child(),
        )
        return [ca]

    def _control_plane(self, name: str, secrets: Secrets) -> pulumi.Resource:
        config = self._config
        plane = config.runai.control_plane
        assert plane.tls_certificate and secrets.runai_tls_key is not None  # checked by the model and load_stack
        namespace = self._namespace(f"{name}-backend-namespace", BACKEND)
        inputs: list[pulumi.Resource] = [
            k8s.core.v1.Secret(
                f"{name}-tls",
                metadata={"name": "runai-backend-tls", "namespace": namespace.metadata["name"], "labels": MANAGED_BY},
                type="kubernetes.io/tls",
                string_data={"tls.crt": plane.tls_certificate, "tls.key": secrets.runai_tls_key},
                opts=self.child(),
            ),
            *self._ca(f"{name}-backend-ca", namespace),
        ]
        if secrets.runai_registry_token is not None:
            server, user = config.runai.pull_registry
            inputs.append(
                k8s.core.v1.Secret(
                    f"{name}-registry",
                    metadata={"name": "runai-reg-creds", "namespace": namespace.metadata["name"], "labels": MANAGED_BY},
                    type="kubernetes.io/dockerconfigjson",
                    string_data={".dockerconfigjson": docker_config(server, user, secrets.runai_registry_token)},
                    opts=self.child(),
                )
            )
        inputs.append(
            BackendUpgradePrep(
                f"{name}-control-plane-upgrade-prep",
                namespace=namespace.metadata["name"],
                chart_version=config.runai.control_plane_chart.version,
                runai_version=config.runai.version,
                kubeconfig=self._kubeconfig,
                opts=self.child(),
            )
        )
        return release(
            f"{name}-control-plane",
            config.runai.control_plane_chart,
            BACKEND,
            control_plane_values(config, secrets.runai_postgres_password),
            # Its database lives in this release: production refuses to delete it.
            self.child(depends_on=inputs, protect=config.is_prod),
            plane.values,
            timeout=1800,
            release_name="runai-backend",
            login=self._login(secrets),
        )

    def _login(self, secrets: Secrets) -> RepositoryLogin | None:
        """NGC's chart repository takes the same API key as its registry."""
        if not self._config.runai.charts_need_token:
            return None
        assert secrets.runai_registry_token is not None  # checked by load_stack
        return self._config.runai.pull_registry[1], secrets.runai_registry_token

    def _cluster(self, name: str, registration: ClusterRegistration, secrets: Secrets) -> list[pulumi.Resource]:
        runai = self._config.runai
        namespace = self._namespace(f"{name}-cluster-namespace", CLUSTER)
        ca = self._ca(f"{name}-cluster-ca", namespace)
        values = {
            "controlPlane": {"url": runai.url, "clientSecret": registration.client_secret},
            "cluster": {"uid": registration.uuid, "url": self.cluster_url},
            "global": {"customCA": {"enabled": bool(runai.ca_file)}},
        }
        if runai.minor >= CLUSTER_INGRESS_CLASS_FROM_MINOR:
            values["clusterConfig"] = {"global": {"ingress": {"ingressClass": self._config.addons.ingress.class_name}}}
        chart = release(
            f"{name}-cluster",
            runai.cluster_chart,
            CLUSTER,
            values,
            self.child(depends_on=[registration, namespace, *ca]),
            runai.cluster.values,
            timeout=1200,
            release_name="runai-cluster",
            login=self._login(secrets),
        )
        installed: list[pulumi.Resource] = [registration, chart]
        if runai.cluster.runai_config:
            # Only our keys of the operator's RunaiConfig, by server-side apply.
            installed.append(
                k8s.apiextensions.CustomResourcePatch(
                    f"{name}-runai-config",
                    api_version="run.ai/v1",
                    kind="RunaiConfig",
                    metadata={"name": "runai", "namespace": CLUSTER},
                    spec=runai.cluster.runai_config,
                    opts=self.child(depends_on=[chart]),
                )
            )
        return installed
