"""Run:ai installed by the stack: the control plane's chart with its
secrets, the cluster's registration (against the fake control plane), chart
and RunaiConfig settings, in order on the layers below; and their settings
refused when wrong."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from components.runai.registration import ClusterRegistrationProvider
from components.runai.researcher import researcher_kubeconfig
from stacks.load import StackConfigError, check_secrets, parse_stack
from tests.support.fake_runai import CLUSTER_ID, connection_to, fake_runai
from tests.support.programs import registered
from tests.support.settings import fixture
from tests.unit.test_runai_org import CLIENT_SECRET, objects, runai_settings
from tools.mocked_program import KUBECONFIG, SSH_KEY, Recorded, run_program

TLS_KEY = "-----BEGIN PRIVATE KEY-----\nmock-tls-key-value-51c3\n-----END PRIVATE KEY-----"
POSTGRES_PASSWORD = "mock-postgres-password-8e21"
REGISTRY_TOKEN = "mock-registry-token-2d90"
CERTIFICATE = "-----BEGIN CERTIFICATE-----\nmock-certificate\n-----END CERTIFICATE-----"
RELEASE = "kubernetes:helm.sh/v3:Release"


def install_settings(**runai: Any) -> dict[str, Any]:
    settings = runai_settings()
    del settings["runai"]["clusterId"]
    settings["runai"] |= {
        "controlPlane": {
            "install": True,
            "tlsCertificate": CERTIFICATE,
            "externalPostgres": {"host": "db.example.com"},
        },
        "cluster": {"install": True, "runaiConfig": {"workload-controller": {"externalAuthUrlEnabled": False}}},
        **runai,
    }
    settings["addons"] = {
        "metallb": {"subnet": "10.0.0.0/24", "pools": [{"addresses": ["10.0.0.200-10.0.0.220"]}]},
        "ingress": {"address": "10.0.0.200"},
    }
    settings["storage"] = {"provisioner": "nfs", "nfs": {"server": "nfs.example.com", "path": "/exports/k8s"}}
    return settings


SECRETS = {
    "sshPrivateKey": SSH_KEY,
    "runaiClientSecret": CLIENT_SECRET,
    "runaiTlsKey": TLS_KEY,
    "runaiPostgresPassword": POSTGRES_PASSWORD,
    "runaiRegistryToken": REGISTRY_TOKEN,
}


@pytest.fixture(scope="module")
def installed() -> Recorded:
    return registered(install_settings(), secrets=SECRETS)


def test_control_plane_chart_values_and_secrets(installed: Recorded) -> None:
    [chart] = [r for r in installed.of_type(RELEASE) if r.inputs["name"] == "runai-backend"]
    values = chart.inputs["values"]
    assert values["global"]["domain"] == "runai.example.com"
    # Run:ai's control plane is told the cluster's ingress class.
    assert values["global"]["ingress"] == {"ingressClass": "haproxy"}
    assert values["postgresql"] == {"enabled": False}
    assert values["global"]["postgresql"]["auth"]["host"] == "db.example.com"
    assert values["global"]["postgresql"]["auth"]["password"] == POSTGRES_PASSWORD
    # The password makes the whole values map a secret (shown as such in previews).
    assert chart.secret_paths == {"values"}
    secrets = {r.inputs["metadata"]["name"]: r for r in installed.of_type("kubernetes:core/v1:Secret")}
    tls = secrets["runai-backend-tls"]
    assert tls.inputs["type"] == "kubernetes.io/tls" and tls.inputs["stringData"]["tls.crt"] == CERTIFICATE
    assert tls.secret_paths == {"stringData"}
    pull = secrets["runai-reg-creds"]
    auths = json.loads(pull.inputs["stringData"][".dockerconfigjson"])["auths"]
    assert auths["https://runai.jfrog.io"]["username"] == "self-hosted-image-puller-prod"
    assert pull.secret_paths == {"stringData"}
    # The chart waits for its secrets and for the layers it needs below it.
    assert {tls.urn, pull.urn} <= set(chart.dependencies)
    ingress = next(r for r in installed.of_type(RELEASE) if r.inputs["name"] == "kubernetes-ingress")
    prometheus = next(r for r in installed.of_type(RELEASE) if r.inputs["name"] == "kube-prometheus-stack")
    assert {ingress.urn, prometheus.urn} <= set(chart.dependencies)
    # The step before a control-plane upgrade: the chart's version reaches it, the
    # chart waits for it, and the kubeconfig it acts with stays secret.
    prep = next(r for r in installed.resources.values() if r.name.endswith("-runai-control-plane-upgrade-prep"))
    assert prep.urn in chart.dependencies
    assert prep.inputs["chart_version"] == chart.inputs["version"]
    assert "kubeconfig" in prep.secret_paths


def test_cluster_registered_installed_and_configured_in_order(installed: Recorded) -> None:
    [backend] = [r for r in installed.of_type(RELEASE) if r.inputs["name"] == "runai-backend"]
    [registration] = [
        r for r in installed.of_type("pulumi-python:dynamic:Resource") if r.name.endswith("-registration")
    ]
    assert registration.inputs["name"] == "gpu-dev" and registration.inputs["version"] == "2.24"
    assert registration.inputs["cluster_url"] == "https://runai.example.com"
    assert "connection" in registration.secret_paths
    assert backend.urn in registration.dependencies
    [cluster] = [r for r in installed.of_type(RELEASE) if r.inputs["name"] == "runai-cluster"]
    assert cluster.inputs["values"]["controlPlane"]["url"] == "https://runai.example.com"
    assert registration.urn in cluster.dependencies
    [patch] = installed.of_type("kubernetes:run.ai/v1:RunaiConfigPatch")
    assert patch.inputs["spec"] == {"workload-controller": {"externalAuthUrlEnabled": False}}
    assert cluster.urn in patch.dependencies
    # The organisation waits for the installed cluster.
    pool = objects(installed, "nodepools")["dev"]
    assert cluster.urn in pool.dependencies


def test_bundled_database_on_the_stack_storage_class() -> None:
    settings = install_settings()
    del settings["runai"]["controlPlane"]["externalPostgres"]
    recorded, _ = run_program(settings, secrets=SECRETS)
    [chart] = [r for r in recorded.of_type(RELEASE) if r.inputs["name"] == "runai-backend"]
    assert chart.inputs["values"]["postgresql"] == {"primary": {"persistence": {"storageClass": "nfs-client"}}}
    settings["runai"]["controlPlane"]["databaseSizeGb"] = 60
    recorded, _ = run_program(settings, secrets=SECRETS)
    [chart] = [r for r in recorded.of_type(RELEASE) if r.inputs["name"] == "runai-backend"]
    assert chart.inputs["values"]["postgresql"]["primary"]["persistence"] == {
        "storageClass": "nfs-client",
        "size": "60Gi",
    }
    [nfs] = [r for r in recorded.of_type(RELEASE) if r.inputs["name"] == "nfs-provisioner"]
    assert nfs.urn in chart.dependencies


def test_secrets_never_in_plain_inputs(installed: Recorded) -> None:
    for registration in installed.resources.values():
        plain = json.dumps(registration.inputs)
        for value in (TLS_KEY, POSTGRES_PASSWORD, REGISTRY_TOKEN, CLIENT_SECRET):
            if value in plain:
                assert registration.secret_paths, (registration.name, value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"controlPlane": {"install": True}}, "controlPlane.tlsCertificate: required"),
        ({"clusterId": CLUSTER_ID}, "clusterId: with cluster.install the stack registers the cluster itself"),
        ({"url": None}, "url: required to install Run:ai"),
        ({"cluster": {"install": True, "name": "Bad_Name"}}, "runai.cluster.name"),
        (
            {"controlPlane": {"install": True, "tlsCertificate": "pem", "databaseSizeGb": 5}},
            "runai.controlPlane.databaseSizeGb: Input should be greater than or equal to 10",
        ),
        (
            {"controlPlane": {"install": True, "tlsCertificate": "pem", "externalPostgres": {"host": "db host"}}},
            "runai.controlPlane.externalPostgres.host: 'db host' is not an IP address or hostname",
        ),
        ({"realm": "bad realm"}, "runai.realm: 'bad realm' must be letters, digits"),
    ],
)
def test_install_settings_refused(change: dict[str, Any], message: str) -> None:
    settings = install_settings(**change)
    if settings["runai"]["url"] is None:
        del settings["runai"]["url"]
    with pytest.raises(StackConfigError) as error:
        parse_stack(settings)
    assert message in str(error.value)


def test_a_kubeadm_cluster_needs_a_storage_class_for_the_control_plane() -> None:
    settings = install_settings()
    del settings["storage"]
    with pytest.raises(StackConfigError, match=r"storage\.provisioner: none, but a kubeadm cluster has no default"):
        parse_stack(settings)


def test_install_secrets_required() -> None:
    config = parse_stack(install_settings())
    present = {"sshPrivateKey", "runaiClientSecret"}
    with pytest.raises(StackConfigError) as error:
        check_secrets(config, present=present, secret=present)
    assert "runaiTlsKey: required with runai.controlPlane.install" in str(error.value)
    assert "runaiPostgresPassword: required with runai.controlPlane.externalPostgres" in str(error.value)


def test_researcher_authentication_flags_and_kubeconfig(prod: Recorded) -> None:
    config = parse_stack(fixture("production"))
    flags = {
        "oidc-client-id": "runai",
        "oidc-issuer-url": "https://runai.example.com/auth/realms/runai",
        "oidc-username-prefix": "-",
    }
    assert config.oidc_flags == flags
    init = next(r for r in prod.of_type("pulumi-python:dynamic:Resource") if r.name == "prod-cp-1-kubeadm-init")
    script = init.inputs["env"]["KUBEADM_CONFIG"]
    assert "name: oidc-issuer-url" in script and "value: https://runai.example.com/auth/realms/runai" in script
    template = yaml.safe_load(researcher_kubeconfig(config.runai, "gpu-prod", KUBECONFIG))
    assert template["clusters"] == [
        {
            "name": "gpu-prod",
            "cluster": {"server": "https://10.0.0.10:6443", "certificate-authority-data": "bW9jay1jYQ=="},
        }
    ]
    provider = template["users"][0]["user"]["auth-provider"]
    assert provider["config"]["idp-issuer-url"] == "https://runai.example.com/auth/realms/runai"
    assert "mock-kubeconfig-value" not in yaml.safe_dump(template)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"cluster": {"apiServerExtraArgs": {"oidc-client-id": "other"}}},
            "would also be set by runai.researcherAuthentication",
        ),
        ({"runai": {"url": None}}, "researcherAuthentication: needs url"),
    ],
)
def test_researcher_authentication_refused(change: dict[str, Any], message: str) -> None:
    settings = fixture("production")
    for section, values in change.items():
        settings[section] = {**settings[section], **values}
    if settings["runai"].get("url", "") is None:
        settings["runai"] = {"researcherAuthentication": True}
    with pytest.raises(StackConfigError) as error:
        parse_stack(settings)
    assert message in str(error.value)


def props(connection: str, name: str = "lab-b") -> dict[str, Any]:
    return {
        "name": name,
        "version": "2.20",
        "domain": "runai.example.com",
        "cluster_url": "https://runai.example.com",
        "connection": connection,
    }


def test_registration_against_the_fake_control_plane() -> None:
    provider = ClusterRegistrationProvider()
    with fake_runai() as (url, fake):
        connection = connection_to(url, fake)
        created = provider.create(props(connection))
        uuid = created.id
        assert fake.store["clusters"][uuid]["name"] == "lab-b"
        assert created.outs["client_secret"] == fake.store["clusters"][uuid]["_clientSecret"]
        assert created.outs["uuid"] == uuid
        # Renamed in the UI: refresh sees it, the diff asks for an update, the update renames it back.
        fake.put_behind_our_back("clusters", "lab-b", {"name": "renamed"})
        read = provider.read(uuid, created.outs)
        assert read.outs["name"] == "renamed"
        assert provider.diff(uuid, read.outs, props(connection)).changes
        provider.update(uuid, read.outs, props(connection))
        assert fake.store["clusters"][uuid]["name"] == "lab-b"
        assert not provider.diff(uuid, {**props(connection)}, props(connection)).changes
        provider.delete(uuid, created.outs)
        assert uuid not in fake.store["clusters"] and CLUSTER_ID in fake.store["clusters"]
        assert provider.read(uuid, created.outs).id == ""


def test_a_registration_without_its_install_info_is_taken_back() -> None:
    provider = ClusterRegistrationProvider()
    with fake_runai() as (url, fake):
        connection = connection_to(url, fake)
        broken = copy.deepcopy(props(connection)) | {"version": ""}
        with pytest.raises(Exception, match="version is required"):
            provider.create(broken)
        # The half-made registration was taken back.
        assert list(fake.store["clusters"]) == [CLUSTER_ID]
