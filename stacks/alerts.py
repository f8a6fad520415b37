"""The `alerts` section: PrometheusRules for what day two must notice."""

from __future__ import annotations

from pydantic import Field

from stacks.base import Section


class AlertsConfig(Section):
    """Needs the Prometheus operator (kube-prometheus-stack) in the cluster."""

    enabled: bool = False
    """a PrometheusRule `runai-cluster` with the alerts below; `GpuXidError` fires on any XID error dcgm-exporter
    reports"""
    namespace: str = "monitoring"
    """where the rule lives"""
    # Labels the operator's ruleSelector picks rules up by.
    rule_labels: dict[str, str] = Field(default_factory=lambda: {"release": "kube-prometheus-stack"})
    """labels the operator's `ruleSelector` matches"""
    # A newest successful backup older than this fires.
    backup_max_age_hours: int = Field(26, ge=1)
    """`EtcdBackupTooOld` fires when the last successful backup is older (`EtcdBackupFailed` on any failed
    backup Job)"""
    # Certificates closer to expiry than this fire.
    certificate_warning_days: int = Field(30, ge=1)
    """`ClientCertificateExpiring` fires for client certificates closer to expiry"""
    # nginx worker processes the ingress controller runs (pinned to 4 where
    # workers failed to spawn on many-core nodes); fewer running fires.
    ingress_worker_processes: int = Field(4, ge=1)
    """`IngressWorkersMissing` fires when the ingress controller runs fewer nginx workers (the `socketpair() failed`
    workers of many-core nodes)"""
