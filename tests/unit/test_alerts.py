"""Alert rules under mocks: what fires on, with the stack's thresholds."""

from __future__ import annotations

from typing import Any

import pytest

from stacks.load import StackConfigError, parse_stack
from tests.support.programs import registered
from tests.support.settings import fixture
from tools.mocked_program import Recorded

RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"


def rules(settings: dict[str, Any], stack: str) -> dict[str, Any]:
    [rule] = registered(settings, stack=stack).of_type(RULE)
    return rule.inputs


def test_prod_alerts_with_backups() -> None:
    settings = fixture("production")
    settings["alerts"] = {"enabled": True, "backupMaxAgeHours": 12, "ingressWorkerProcesses": 8}
    found = rules(settings, "prod")
    assert found["metadata"]["namespace"] == "monitoring"
    assert found["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    alerts = {r["alert"]: r for group in found["spec"]["groups"] for r in group["rules"]}
    assert set(alerts) == {
        "GpuXidError",
        "IngressWorkersMissing",
        "ClientCertificateExpiring",
        "EtcdBackupFailed",
        "EtcdBackupTooOld",
    }
    assert alerts["EtcdBackupTooOld"]["expr"].endswith("> 43200")
    assert 'cronjob="runai-cluster-etcd-backup"' in alerts["EtcdBackupTooOld"]["expr"]
    assert alerts["IngressWorkersMissing"]["expr"].endswith("< 9")
    assert alerts["ClientCertificateExpiring"]["expr"].endswith(f"< {30 * 86400}")
    assert alerts["GpuXidError"]["labels"] == {"severity": "critical"}


def test_no_backup_alerts_without_backups_and_none_unless_enabled(dev: Recorded) -> None:
    settings = fixture("small")
    settings["alerts"] = {"enabled": True}
    names = {r["alert"] for group in rules(settings, "dev")["spec"]["groups"] for r in group["rules"]}
    assert "EtcdBackupTooOld" not in names and "GpuXidError" in names
    assert dev.of_type(RULE) == []


def test_bad_alert_settings_are_named() -> None:
    settings = fixture("small")
    settings["alerts"] = {"enabled": True, "backupMaxAgeHours": 0}
    with pytest.raises(StackConfigError, match=r"alerts\.backupMaxAgeHours"):
        parse_stack(settings)
