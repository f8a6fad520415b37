"""Prometheus (kube-prometheus-stack without Grafana): Run:ai needs it."""

from __future__ import annotations

import pulumi

from components.charts import release
from components.managed import Component, OnCluster


class Monitoring(Component):
    def __init__(self, name: str, cluster: OnCluster, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("runai-cluster:monitoring:Monitoring", name, opts)
        config = cluster.config
        prometheus = config.addons.prometheus
        values = {
            "grafana": {"enabled": False},
            "prometheus": {
                "prometheusSpec": {
                    "retention": prometheus.retention,
                    # Rules and monitors from every release (our alerts, DCGM), not only this chart's.
                    "ruleSelectorNilUsesHelmValues": False,
                    "serviceMonitorSelectorNilUsesHelmValues": False,
                    "podMonitorSelectorNilUsesHelmValues": False,
                }
            },
        }
        chart = release(
            f"{name}-prometheus",
            prometheus.chart,
            prometheus.namespace,
            values,
            self.child(),
            prometheus.values,
            timeout=900,
            skip_await=config.addons.skip_await,
        )
        self.ready: list[pulumi.Resource] = [chart]
        self.register_outputs({})
