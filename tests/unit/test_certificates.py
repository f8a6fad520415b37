"""kubeadm certificate expiry and renewal: certificates.sh against real
certificates made with openssl (renewal through a kubeadm stand-in), the
renewal window, and the graph under mocks."""

from __future__ import annotations

import base64
import subprocess
import time
from pathlib import Path

import pytest

from components.kubeadm.certificates import CertificateRenewalProvider, parse_expiry, renewal_due
from tests.support.fake_node import FakeNode
from tools.mocked_program import Recorded

SCRIPT = Path(__file__).resolve().parents[2] / "components" / "kubeadm" / "certificates.sh"
DAY = 86400


def certificate(path: Path, days: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.with_suffix(".key"))
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ed25519",
            "-nodes",
            "-days",
            str(days),
            "-subj",
            "/CN=t",
            "-keyout",
            key,
            "-out",
            str(path),
        ],
        check=True,
        capture_output=True,
    )


# kubeadm certs renew all [--config FILE]: every certificate a year again, or
# for the configuration's certificateValidityPeriod (whole days of hours).
KUBEADM = r"""
days=365
if [[ "$*" == "certs renew all --config "* ]]; then
  grep -qx "kind: ClusterConfiguration" "$5" || { echo "fake kubeadm: not the cluster's configuration" >&2; exit 1; }
  (($(grep -c '^certificateValidityPeriod:' "$5") == 1)) || { echo "fake kubeadm: one lifetime" >&2; exit 1; }
  hours=$(sed -n 's/^certificateValidityPeriod: \([0-9]*\)h0m0s$/\1/p' "$5")
  days=$((${hours:-8760} / 24))
elif [[ "$*" != "certs renew all" ]]; then
  echo "fake kubeadm: unsupported: $*" >&2; exit 1
fi
for crt in "$PREP_ROOT"/etc/kubernetes/pki/*.crt "$PREP_ROOT"/etc/kubernetes/pki/etcd/*.crt; do
  openssl req -x509 -newkey ed25519 -nodes -days $days -subj /CN=renewed \
    -keyout "${crt%.crt}.key" -out "$crt" 2>/dev/null
done
"""


# crictl ps --name ^COMPONENT$ --state running -q: the kubelet runs a static
# pod while its manifest is there.
CRICTL = r"""
name=${3#^}
[[ ! -f "$PREP_ROOT/etc/kubernetes/manifests/${name%$}.yaml" ]] || echo "container-of-${name%$}"
"""


@pytest.fixture
def plane(tmp_path: Path) -> FakeNode:
    node = FakeNode(tmp_path)
    node.stand_in("kubeadm", KUBEADM)
    node.stand_in("crictl", CRICTL)
    kubernetes = node.root / "etc" / "kubernetes"
    certificate(kubernetes / "pki" / "apiserver.crt", 300)
    certificate(kubernetes / "pki" / "etcd" / "server.crt", 12)
    client = tmp_path / "client.crt"
    certificate(client, 200)
    data = base64.b64encode(client.read_bytes()).decode()
    (kubernetes / "admin.conf").write_text(f"users:\n- name: admin\n  user:\n    client-certificate-data: {data}\n")
    (kubernetes / "manifests").mkdir()
    for component in ("etcd", "kube-apiserver"):
        (kubernetes / "manifests" / f"{component}.yaml").write_text(f"name: {component}\n")
    return node


def days_left(expiry: dict[str, int], name: str) -> float:
    return (expiry[name] - time.time()) / DAY


@pytest.mark.process
def test_probe_reads_every_certificate_and_the_kubeconfigs(plane: FakeNode) -> None:
    run = plane.run(SCRIPT, {"PHASE": "probe", "STATIC_POD_TIMEOUT": "5"})
    expiry = parse_expiry(run.stdout)
    assert set(expiry) == {"apiserver", "etcd/server", "admin.conf"}
    assert 11 < days_left(expiry, "etcd/server") <= 12
    assert 199 < days_left(expiry, "admin.conf") <= 200
    assert run.mutating() == []
    assert renewal_due(expiry, 30)
    assert not renewal_due({k: v for k, v in expiry.items() if k != "etcd/server"}, 30)


@pytest.mark.process
def test_renew_renews_and_restarts_each_static_pod(plane: FakeNode) -> None:
    manifests = plane.root / "etc" / "kubernetes" / "manifests"
    before = sorted(p.name for p in manifests.iterdir())
    run = plane.run(SCRIPT, {"PHASE": "renew", "STATIC_POD_TIMEOUT": "5"})
    assert run.called("kubeadm", "certs", "renew", "all")
    assert not run.called("kubectl")  # kubeadm's year: its own configuration
    assert "restarting etcd" in run.stdout and "restarting kube-apiserver" in run.stdout
    assert run.called("crictl", "ps", "--name", "^etcd$", "--state", "running")
    assert sorted(p.name for p in manifests.iterdir()) == before
    assert not list((plane.root / "etc" / "kubernetes").glob("restarting.*"))
    expiry = parse_expiry(run.stdout)
    assert 364 < days_left(expiry, "etcd/server") <= 365


# kubeadm-config's ClusterConfiguration, as a cluster made with another lifetime keeps it.
KUBECTL = """
echo "apiVersion: kubeadm.k8s.io/v1beta4"
echo "certificateValidityPeriod: 720h0m0s"
echo "kind: ClusterConfiguration"
"""


@pytest.mark.process
def test_renew_gives_the_stacks_certificate_lifetime(plane: FakeNode) -> None:
    plane.stand_in("kubectl", KUBECTL)
    run = plane.run(SCRIPT, {"PHASE": "renew", "STATIC_POD_TIMEOUT": "5"}, {"CERTIFICATE_DAYS": "10"})
    assert run.called("kubectl", "get", "configmap", "kubeadm-config")
    assert run.called("kubeadm", "certs", "renew", "all", "--config")
    assert 9 < days_left(parse_expiry(run.stdout), "etcd/server") <= 10
    assert not list((plane.root / "etc" / "kubernetes").glob("kubeadm-renew.*"))


def test_a_due_renewal_shows_in_the_diff() -> None:
    provider = CertificateRenewalProvider()
    soon = {"apiserver": int(time.time()) + 10 * DAY}
    later = {"apiserver": int(time.time()) + 200 * DAY}
    news = {"name": "cp", "connections": "{}", "hosts": {"node": "root@cp"}, "renew_within_days": 30}
    assert provider.diff("cp", {**news, "expiry": soon}, news).changes
    assert not provider.diff("cp", {**news, "expiry": later}, news).changes
    assert provider.diff("cp", {**news, "expiry": later}, {**news, "renew_within_days": 250}).changes


def test_renewals_go_one_control_plane_at_a_time_and_refresh_the_kubeconfig(prod: Recorded) -> None:
    def urn(name: str) -> str:
        return prod.by_name(name).urn

    assert urn("prod-cp-1-kubeadm-init") in prod.by_name("prod-cp-1-certificates").dependencies
    second = prod.by_name("prod-cp-2-certificates").dependencies
    assert {urn("prod-cp-1-certificates"), urn("prod-cp-2-join")} <= set(second)
    assert urn("prod-cp-2-certificates") in prod.by_name("prod-cp-3-certificates").dependencies
    assert prod.by_name("prod-cp-1-certificates").inputs["renew_within_days"] == 30
    reader = prod.by_name("prod-cp-1-admin-kubeconfig")
    assert urn("prod-cp-1-certificates") in reader.dependencies


@pytest.mark.process
def test_a_failed_restart_puts_every_manifest_back(plane: FakeNode) -> None:
    plane.stand_in("crictl", "echo container-that-never-stops\n")
    result = plane.execute(SCRIPT, {"PHASE": "renew", "STATIC_POD_TIMEOUT": "2"})
    assert result.returncode != 0
    assert "certificates: gave up after 2s waiting for etcd to stop" in result.stderr
    manifests = plane.root / "etc" / "kubernetes" / "manifests"
    assert sorted(p.name for p in manifests.iterdir()) == ["etcd.yaml", "kube-apiserver.yaml"]
    assert not list((plane.root / "etc" / "kubernetes").glob("restarting.*"))
