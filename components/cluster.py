"""The root component: the dependency graph from machines to a cluster."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.alerts import Alerts
from components.backup.etcd_backup import EtcdBackup, runai_backup
from components.backup.runai_access import RunaiBackupAccess
from components.connection import NodeAccess, node_access
from components.kubeadm.bootstrap import ControlPlaneInit, NodeJoin
from components.kubeadm.certificates import CertificateRenewal
from components.kubeadm.settings import ControlPlaneSettings
from components.kubeadm.upgrade import KubernetesUpgrade
from components.layers import ClusterLayers
from components.networking.cni import PodNetwork
from components.node_prep.prep import NodePrep
from components.node_roles import NodeRoles
from components.preflight.check import Preflight
from components.runai.install import RunaiInstall
from components.runai.organisation import RunaiOrganisation
from components.scheduling.kai import KaiScheduling
from components.storage.storage import DefaultStorage, DepartmentShares
from components.validation import ValidationJobs
from stacks.cluster import Bootstrap
from stacks.load import LoadedStack
from stacks.model import StackConfig
from stacks.scheduling import SchedulerKind
from stacks.storage import Provisioner


class Cluster(pulumi.ComponentResource):
    """Nodes prepared in parallel, then kubeadm init, control-plane joins one
    at a time, worker joins in parallel, then the cluster layers on the
    kubeconfig's Provider. The graph's depth does not grow with the node count."""

    kubeconfig: pulumi.Output[str]

    def __init__(self, name: str, stack: LoadedStack, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:cluster:Cluster", name, None, opts)
        config = stack.config
        key = stack.secrets.ssh_private_key
        # SSH reaches the machines in kubeadm mode, and for the preflight of an
        # existing cluster's machines when a key is given.
        access = node_access(config, key) if key else {}
        child = pulumi.ResourceOptions(parent=self)
        self.preflight: Preflight | None = None
        if config.preflight.enabled and access:
            self.preflight = Preflight(f"{name}-preflight", config.nodes, config, access, child)
        joined: dict[str, pulumi.Resource] = {}
        settled: list[pulumi.Resource] = []
        self.members: list[pulumi.Resource] = []  # the control planes' init and join scripts
        self.certificates: dict[str, CertificateRenewal] = {}
        if config.cluster.bootstrap is Bootstrap.KUBEADM:
            joined, self.kubeconfig = self._bootstrap(name, config, access)
            settled = self.upgrade.done
        else:
            assert stack.secrets.kubeconfig is not None  # checked by load_stack
            self.kubeconfig = pulumi.Output.secret(stack.secrets.kubeconfig)

        # After every control plane joined: `destroy` then deletes the
        # cluster's objects before any control plane is reset (behind a load
        # balancer, a request meeting a control plane as it leaves is cut off).
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.members),
        )
        on_cluster = pulumi.ResourceOptions(parent=self, providers=[self.provider])
        # Each node's labels right after its own join. The layers wait for the
        # pod network, which waits for every join; they do not wait for each
        # node's labels (nothing they install needs them, and a dependency on
        # every label patch would make every layer resource's dependencies,
        # and the engine's cycle checks, grow with the node count).
        self.node_roles = NodeRoles(f"{name}-node-roles", config, joined, on_cluster)
        below: list[pulumi.Resource] = []
        if config.addons.cni.enabled:
            # After the whole rollout, and through it after every join: the
            # rollout's ends, not each node, keep the dependency checks small.
            below.append(
                PodNetwork(
                    f"{name}-cni",
                    config,
                    pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=settled)),
                )
            )
        on_nodes = pulumi.ResourceOptions.merge(on_cluster, pulumi.ResourceOptions(depends_on=below))
        self.layers = ClusterLayers(f"{name}-layers", config, self.kubeconfig, on_nodes)
        self.storage: DefaultStorage | None = None
        if config.storage.provisioner is not Provisioner.NONE:
            self.storage = DefaultStorage(f"{name}-storage", config.storage, on_nodes)
        # What makes the organisation's projects and their namespaces.
        self.projects: list[pulumi.Resource] = []
        self.organisation: RunaiOrganisation | None = None
        # The application the stack made for itself on the control plane.
        self.runai_application: pulumi.Output[str] | None = None
        # What the SSO identity provider needs back (redirect URI, entity ID).
        self.runai_sso: pulumi.Output[dict[str, str]] | None = None
        if config.scheduler.kind is SchedulerKind.KAI:
            # Project namespaces select node pools by the labels just placed.
            self.scheduling = KaiScheduling(f"{name}-kai", config, on_nodes)
            self.projects.append(self.scheduling)
            if config.storage.shares:
                DepartmentShares(
                    f"{name}-shares",
                    config,
                    self.scheduling.namespaces,
                    on_cluster,
                )
        if config.scheduler.kind is SchedulerKind.RUNAI and config.runai.url:
            self._runai(name, stack, on_nodes)
        if config.backup.enabled:
            self.backup = EtcdBackup(
                f"{name}-backup",
                config.backup,
                stack.secrets.backup_access_key_id,
                stack.secrets.backup_secret_access_key,
                runai_backup(config),
                stack.secrets.runai_postgres_password,
                on_nodes,
            )
        if config.validation.enabled:
            # In the project's namespace, once the project and the MPI Operator are there.
            below = [*self.layers.ready, *self.projects]
            ValidationJobs(
                f"{name}-validation",
                config,
                pulumi.ResourceOptions.merge(on_nodes, pulumi.ResourceOptions(depends_on=below)),
            )
        if config.alerts.enabled:
            # PrometheusRule is kube-prometheus-stack's CRD.
            after_monitoring = pulumi.ResourceOptions(depends_on=self.layers.monitoring)
            Alerts(f"{name}-alerts", config, pulumi.ResourceOptions.merge(on_nodes, after_monitoring))
        # The inventory summary is what the policy pack (policy/) judges.
        self.register_outputs({"kubeconfig": self.kubeconfig, "inventory": config.inventory_summary()})

    def _runai(self, name: str, stack: LoadedStack, on_nodes: pulumi.ResourceOptions) -> None:
        """Run:ai's control plane and cluster (when the stack installs them),
        on the layers and storage they need, then the organisation."""
        config = stack.config
        below = [*self.layers.ready, *([self.storage] if self.storage else [])]
        install = RunaiInstall(
            f"{name}-runai",
            config,
            stack.secrets,
            self.kubeconfig,
            pulumi.ResourceOptions.merge(on_nodes, pulumi.ResourceOptions(depends_on=below)),
        )
        backed_up = runai_backup(config)
        if config.backup.enabled and backed_up:
            RunaiBackupAccess(
                f"{name}-backup-runai",
                backed_up,
                config.backup.namespace,
                pulumi.ResourceOptions.merge(on_nodes, pulumi.ResourceOptions(depends_on=install.ready)),
            )
        self.runai_application, self.runai_sso = install.application, install.sso
        assert install.cluster_id is not None  # the model requires clusterId or cluster.install
        self.organisation = RunaiOrganisation(
            f"{name}-runai-org",
            config,
            install.connection,
            install.cluster_id,
            stack.secrets.registry_passwords,
            pulumi.ResourceOptions.merge(on_nodes, pulumi.ResourceOptions(depends_on=install.ready)),
        )
        self.projects.append(self.organisation)

    def _bootstrap(
        self, name: str, config: StackConfig, access: dict[str, NodeAccess]
    ) -> tuple[dict[str, pulumi.Resource], pulumi.Output[str]]:
        """Node prep, kubeadm and the upgrade rollout; returns each node's
        join (or init) and the admin kubeconfig."""
        child = pulumi.ResourceOptions(parent=self)
        prepared = NodePrep(
            f"{name}-prep", config.nodes, config, access, self.preflight.checks if self.preflight else {}, child
        ).prepared
        first, *other_planes = config.control_planes
        init = ControlPlaneInit(first.name, first, config, access[first.name], list(prepared.values()), child)
        joins = NodeJoin(f"{name}-join", config, access, child)
        joined: dict[str, pulumi.Resource] = {first.name: init}
        previous: pulumi.Resource = init
        self.certificates = {first.name: init.certificates}
        renewed: pulumi.Resource = init.certificates
        for node in other_planes:  # one at a time: etcd grows by one member per join
            previous = joined[node.name] = joins.join(node, [previous, prepared[node.name]])
            # Renewals restart static pods: one control plane at a time.
            renewed = self.certificates[node.name] = CertificateRenewal(
                f"{node.name}-certificates",
                access[node.name],
                config.cluster.certificates.renew_within_days,
                config.cluster.certificates.validity_days,
                pulumi.ResourceOptions(parent=self, depends_on=[previous, renewed]),
            )
        # Workers join once the control planes run the stack's version (a
        # kubelet must not be newer than its API server), and upgrade after.
        self.upgrade = KubernetesUpgrade(f"{name}-upgrade", config, access, child)
        # The chain names the join scripts, not their components: a
        # dependency on a component makes the SDK's cycle check walk the whole
        # chain again for every link (quadratic in the node count).
        scripts: dict[str, pulumi.Resource] = {first.name: init.init, **joins.joined}
        self.members = list(scripts.values())
        planes_done = self.upgrade.control_planes(self.members)
        ControlPlaneSettings(f"{name}-api-server", config, access, [planes_done], child)
        for node in config.nodes:
            if not node.is_control_plane:
                scripts[node.name] = joined[node.name] = joins.join(node, [planes_done, prepared[node.name]])
        joins.done()
        self.upgrade.workers(planes_done, scripts)
        return joined, init.kubeconfig
