"""PrometheusRules: backups failed or too old, GPU XID errors, ingress
workers failing, certificates close to expiry."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.managed import MANAGED_BY, Component
from stacks.model import StackConfig


def _alert(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": {"severity": severity},
        "annotations": {"summary": summary},
    }


def rule_groups(config: StackConfig) -> list[dict[str, Any]]:
    alerts = config.alerts
    backup_namespace = config.backup.namespace
    groups = [
        {
            "name": "runai-cluster.gpus",
            "rules": [
                # dcgm-exporter reports the last XID seen; any is a hardware or driver fault.
                _alert(
                    "GpuXidError",
                    "DCGM_FI_DEV_XID_ERRORS > 0",
                    "0m",
                    "critical",
                    "GPU {{ $labels.gpu }} on {{ $labels.Hostname }} reported XID {{ $value }}",
                )
            ],
        },
        {
            "name": "runai-cluster.ingress",
            "rules": [
                # Workers that cannot spawn (socketpair() failed: no
                # file descriptors) leave fewer nginx processes than configured.
                _alert(
                    "IngressWorkersMissing",
                    f"nginx_ingress_controller_nginx_process_num_procs < {alerts.ingress_worker_processes + 1}",
                    "5m",
                    "warning",
                    "ingress controller {{ $labels.pod }} runs {{ $value }} nginx processes; workers fail to spawn",
                ),
            ],
        },
        {
            "name": "runai-cluster.certificates",
            "rules": [
                _alert(
                    "ClientCertificateExpiring",
                    "apiserver_client_certificate_expiration_seconds_count > 0 and on(job) "
                    "histogram_quantile(0.01, sum by (job, le) "
                    "(rate(apiserver_client_certificate_expiration_seconds_bucket[5m]))) "
                    f"< {alerts.certificate_warning_days * 86400}",
                    "1h",
                    "warning",
                    f"a client certificate the API server sees expires within {alerts.certificate_warning_days} days",
                )
            ],
        },
    ]
    if config.backup.enabled:
        groups.append(
            {
                "name": "runai-cluster.backups",
                "rules": [
                    _alert(
                        "EtcdBackupFailed",
                        f'kube_job_status_failed{{namespace="{backup_namespace}",'
                        'job_name=~"runai-cluster-etcd-backup-.*"} > 0',
                        "5m",
                        "critical",
                        "etcd backup job {{ $labels.job_name }} failed",
                    ),
                    _alert(
                        "EtcdBackupTooOld",
                        f'time() - kube_cronjob_status_last_successful_time{{namespace="{backup_namespace}",'
                        f'cronjob="runai-cluster-etcd-backup"}} > {alerts.backup_max_age_hours * 3600}',
                        "10m",
                        "critical",
                        f"no successful etcd backup for over {alerts.backup_max_age_hours} hours",
                    ),
                ],
            }
        )
    return groups


class Alerts(Component):
    def __init__(self, name: str, config: StackConfig, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:alerts:Alerts", name, opts)
        alerts = config.alerts
        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={
                "name": "runai-cluster",
                "namespace": alerts.namespace,
                "labels": {**MANAGED_BY, **alerts.rule_labels},
            },
            spec={"groups": rule_groups(config)},
            opts=self.child(),
        )
        self.register_outputs({})
