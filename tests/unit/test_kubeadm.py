"""kubeadm configuration per API version, and the kubeadm scripts."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from components.kubeadm.bootstrap import init_config, kube_vip_manifest
from components.kubeadm.config import api_version, render_join
from components.kubeadm.settings import settings_hash
from components.scripts import render_script
from stacks.load import StackConfigError, parse_stack
from tests.support.settings import fixture
from tools.mocked_program import run_program

KUBEADM_DIR = Path(__file__).resolve().parents[2] / "components" / "kubeadm"


def documents(text: str) -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(text)}


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.28.15", "v1beta3"), ("1.30.14", "v1beta3"), ("1.31.0", "v1beta4"), ("1.34.1", "v1beta4")],
)
def test_api_version_follows_kubernetes(version: str, expected: str) -> None:
    assert api_version(version) == f"kubeadm.k8s.io/{expected}"


def _config(version: str, **cluster: object) -> str:
    settings = fixture("production")
    settings["cluster"]["kubernetesVersion"] = version
    settings["cluster"].update(cluster)
    # These tests set the OIDC flags themselves.
    settings["runai"]["researcherAuthentication"] = False
    # Kubernetes older than Run:ai 2.24 supports: a warning outside prod.
    settings["cluster"]["environment"] = "dev"
    config = parse_stack(settings)
    return init_config(config.control_planes[0], config)


def test_v1beta4_extra_args_are_a_list_of_name_value() -> None:
    docs = documents(
        _config(
            "1.32.8",
            apiServerExtraArgs={"oidc-issuer-url": "https://auth.example/realms/runai", "oidc-client-id": "runai"},
            admissionPlugins=["PodNodeSelector"],
        )
    )
    cluster = docs["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert cluster["apiServer"]["extraArgs"] == [
        {"name": "enable-admission-plugins", "value": "NodeRestriction,PodNodeSelector"},
        {"name": "oidc-client-id", "value": "runai"},
        {"name": "oidc-issuer-url", "value": "https://auth.example/realms/runai"},
        # Behind the endpoint: a server going down is drained first.
        {"name": "shutdown-delay-duration", "value": "15s"},
    ]
    assert cluster["kubernetesVersion"] == "v1.32.8"
    assert cluster["controlPlaneEndpoint"] == "198.51.100.5:6443"
    assert "198.51.100.5" in cluster["apiServer"]["certSANs"]
    assert cluster["networking"] == {
        "podSubnet": "10.244.0.0/16",
        "serviceSubnet": "10.96.0.0/12",
        "dnsDomain": "cluster.local",
    }
    init = docs["InitConfiguration"]
    assert init["localAPIEndpoint"]["advertiseAddress"] == "198.51.100.11"
    assert init["nodeRegistration"]["name"] == "prod-cp-1"
    assert docs["KubeletConfiguration"]["cgroupDriver"] == "systemd"


def test_v1beta3_extra_args_are_a_map() -> None:
    # The stack's own shutdown delay wins over the endpoint's.
    flags = {"oidc-client-id": "runai", "shutdown-delay-duration": "5s"}
    docs = documents(_config("1.30.14", apiServerExtraArgs=flags))
    cluster = docs["ClusterConfiguration"]
    assert cluster["apiVersion"] == "kubeadm.k8s.io/v1beta3"
    assert cluster["apiServer"]["extraArgs"] == flags


def test_no_shutdown_delay_when_turned_off() -> None:
    settings = fixture("production")
    settings["cluster"]["apiEndpoint"]["shutdownDelaySeconds"] = 0
    assert "shutdown-delay-duration" not in parse_stack(settings).api_server_extra_args


def test_single_control_plane_has_no_endpoint_or_vip() -> None:
    config = parse_stack(fixture("small"))
    docs = documents(init_config(config.control_planes[0], config))
    assert "controlPlaneEndpoint" not in docs["ClusterConfiguration"]
    assert kube_vip_manifest(config) == ""


def test_kube_vip_holds_the_endpoint_address() -> None:
    pod = yaml.safe_load(kube_vip_manifest(parse_stack(fixture("production"))))
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["address"] == "198.51.100.5"
    assert env["vip_interface"] == "bond0"
    assert env["cp_enable"] == "true"


@pytest.mark.parametrize("version", ["1.30.14", "1.32.8"])
def test_join_template_per_api_version(version: str) -> None:
    worker = yaml.safe_load(render_join(version, "gpu-1", None))
    assert worker["apiVersion"] == api_version(version)
    assert worker["discovery"]["bootstrapToken"]["token"] == "@TOKEN@"
    assert "controlPlane" not in worker
    plane = yaml.safe_load(render_join(version, "cp-2", "10.0.0.12"))
    assert plane["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "10.0.0.12", "bindPort": 6443},
        "certificateKey": "@CERT_KEY@",
    }


def test_ignored_preflight_checks_reach_init_and_every_join() -> None:
    settings = fixture("production")
    settings["cluster"]["ignorePreflightErrors"] = ["SystemVerification", "HTTPProxyCIDR"]
    config = parse_stack(settings)
    init = next(iter(yaml.safe_load_all(init_config(config.control_planes[0], config))))
    assert init["nodeRegistration"]["ignorePreflightErrors"] == ["HTTPProxyCIDR", "SystemVerification"]
    join = yaml.safe_load(render_join("1.32.8", "gpu-1", None, config.cluster.ignore_preflight_errors))
    assert join["nodeRegistration"]["ignorePreflightErrors"] == ["HTTPProxyCIDR", "SystemVerification"]
    assert "ignorePreflightErrors" not in yaml.safe_load(render_join("1.32.8", "gpu-1", None))["nodeRegistration"]


def test_kube_proxy_settings_become_a_kube_proxy_configuration() -> None:
    settings = fixture("production")
    settings["cluster"]["kubeProxy"] = {"conntrack": {"maxPerCore": 0}}
    config = parse_stack(settings)
    documents = list(yaml.safe_load_all(init_config(config.control_planes[0], config)))
    proxy = next(d for d in documents if d["kind"] == "KubeProxyConfiguration")
    assert proxy == {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "conntrack": {"maxPerCore": 0},
    }
    plain = parse_stack(fixture("production"))
    kinds = [d["kind"] for d in yaml.safe_load_all(init_config(plain.control_planes[0], plain))]
    assert "KubeProxyConfiguration" not in kinds


def test_kube_proxy_settings_leave_the_kind_to_the_program() -> None:
    settings = fixture("production")
    settings["cluster"]["kubeProxy"] = {"kind": "Something"}
    with pytest.raises(StackConfigError, match="kubeProxy: kind is written by the program"):
        parse_stack(settings)


def test_a_certificate_lifetime_reaches_the_cluster_configuration_and_its_settings() -> None:
    plain = parse_stack(fixture("production"))
    settings = fixture("production")
    settings["cluster"]["certificates"] = {"validityDays": 90, "renewWithinDays": 20}
    config = parse_stack(settings)
    cluster = documents(init_config(config.control_planes[0], config))["ClusterConfiguration"]
    assert cluster["certificateValidityPeriod"] == "2160h0m0s"
    # The default renders as before: no existing stack sees a change.
    default = documents(init_config(plain.control_planes[0], plain))["ClusterConfiguration"]
    assert "certificateValidityPeriod" not in default
    assert settings_hash(plain, {}) == settings_hash(parse_stack(fixture("production")), {})
    assert settings_hash(config, {}) != settings_hash(plain, {})


@pytest.mark.parametrize(
    ("version", "certificates", "message"),
    [
        ("1.32.8", {"validityDays": 30, "renewWithinDays": 30}, "renewWithinDays 30 is not less than validityDays 30"),
        ("1.30.14", {"validityDays": 90}, "certificates.validityDays 90: kubeadm sets a certificate lifetime from"),
    ],
)
def test_a_certificate_lifetime_is_checked(version: str, certificates: dict, message: str) -> None:
    settings = fixture("production")
    settings["cluster"]["certificates"] = certificates
    settings["cluster"]["kubernetesVersion"] = version
    with pytest.raises(StackConfigError, match=message):
        parse_stack(settings)


def test_an_ignored_preflight_check_must_be_a_check_name() -> None:
    settings = fixture("production")
    settings["cluster"]["ignorePreflightErrors"] = ["Swap; rm -rf /"]
    with pytest.raises(StackConfigError, match="ignorePreflightErrors"):
        parse_stack(settings)


def all_rendered_scripts() -> dict[str, str]:
    recorded, _ = run_program(fixture("production"), stack="prod")
    scripts = {}
    for registration in [r for r in recorded.of_type("pulumi-python:dynamic:Resource") if "create_steps" in r.inputs]:
        for step in registration.inputs["create_steps"] + registration.inputs.get("delete_steps", []):
            scripts[f"{registration.name}:{step['name']}"] = step["script"]
    return scripts


@pytest.mark.process
def test_every_rendered_script_is_shellcheck_clean() -> None:
    scripts = all_rendered_scripts()
    names = {key.split(":")[1] for key in scripts}
    assert {"node-prep", "gpu-host", "kubeadm-init", "join-command", "kubeadm-join", "drain", "reset"} <= names
    for key, text in scripts.items():
        result = subprocess.run(["shellcheck", "-s", "bash", "-"], input=text, text=True, capture_output=True)
        assert result.returncode == 0, f"{key}:\n{result.stdout}"


def _fake_kubeadm(bin_dir: Path, log: Path) -> None:
    bin_dir.mkdir()
    script = bin_dir / "kubeadm"
    script.write_text(
        f'#!/usr/bin/env bash\necho "kubeadm $*" >> {log}\n[[ ! -f "${{@: -1}}" ]] || cat "${{@: -1}}" >> {log}\n'
    )
    script.chmod(0o755)


def _join(tmp_path: Path, node: str, address: str | None, command: str) -> tuple[str, dict[str, str], Path, Path]:
    """join.sh for `node` under a scratch root with a recording kubeadm:
    the script, its environment, the root and kubeadm's log."""
    root, log = tmp_path / "root", tmp_path / "log"
    _fake_kubeadm(tmp_path / "bin", log)
    template = render_join("1.32.8", node, address)
    script = render_script(
        KUBEADM_DIR / "join.sh", {"JOIN_TEMPLATE": template, "KUBE_VIP_MANIFEST": "", "NODE_GENERATION": "0"}
    )
    path = f"{tmp_path / 'bin'}:{os.environ['PATH']}"
    return script, dict(os.environ, PATH=path, PREP_ROOT=str(root), JOIN_COMMAND=command), root, log


@pytest.mark.process
def test_join_fills_the_template_from_a_fresh_join_command(tmp_path: Path) -> None:
    script, env, root, log = _join(
        tmp_path,
        "cp-2",
        "10.0.0.12",
        "kubeadm join 10.0.0.5:6443 --token abc.0123456789abcdef "
        "--discovery-token-ca-cert-hash sha256:feed --control-plane --certificate-key c0ffee",
    )
    subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True)
    joined = log.read_text()
    assert "kubeadm join --config" in joined
    config = yaml.safe_load(joined.split("\n", 1)[1])
    assert config["discovery"]["bootstrapToken"] == {
        "apiServerEndpoint": "10.0.0.5:6443",
        "token": "abc.0123456789abcdef",
        "caCertHashes": ["sha256:feed"],
    }
    assert config["controlPlane"]["certificateKey"] == "c0ffee"
    assert not list((root / "etc" / "kubernetes").glob("kubeadm-join.*")), "the token file must be removed"
    # A joined machine is left alone.
    (root / "etc" / "kubernetes" / "kubelet.conf").write_text("joined")
    log.unlink()
    result = subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True)
    assert "already joined" in result.stdout
    assert not log.exists()


@pytest.mark.process
def test_a_join_cut_off_half_way_is_reset_before_joining_again(tmp_path: Path) -> None:
    command = "kubeadm join 10.0.0.5:6443 --token abc.0123456789abcdef --discovery-token-ca-cert-hash sha256:f"
    script, env, root, log = _join(tmp_path, "gpu-3", None, command)
    # The machine restarted while the kubelet was bootstrapping.
    (root / "etc" / "kubernetes" / "pki").mkdir(parents=True)
    (root / "etc" / "kubernetes" / "pki" / "ca.crt").write_text("from the cut-off join")
    (root / "etc" / "kubernetes" / "bootstrap-kubelet.conf").write_text("from the cut-off join")
    result = subprocess.run(["bash", "-c", script], env=env, check=True, capture_output=True, text=True)
    assert "an earlier join stopped half way" in result.stdout
    calls = [line for line in log.read_text().splitlines() if line.startswith("kubeadm ")]
    assert calls[0] == "kubeadm reset -f" and calls[1].startswith("kubeadm join --config")


# kubectl and etcdctl (through `kubectl exec`) over a Node kept in $STATE.
_FAKE_KUBECTL = r"""#!/usr/bin/env bash
echo "kubectl $*" >>"$STATE/log"
case "$*" in
  "get node cp-2") [[ -f $STATE/node ]] ;;
  "get node cp-2 -o jsonpath="*) cat "$STATE/node" ;;
  "-n kube-system get pods -l component=etcd -o name") printf 'pod/etcd-cp-1\npod/etcd-cp-2\n' ;;
  *"member list")
    # $STATE/eof: the first answer is cut off, as by a control plane leaving.
    if [[ -f $STATE/eof ]]; then rm -f "$STATE/eof"; echo "error: EOF" >&2; exit 1; fi
    echo "8e9e05c52164694d, started, cp-2, https://10.0.0.12:2380, https://10.0.0.12:2379, false" ;;
  *"member remove 8e9e05c52164694d") ;;
  "delete node cp-2 --ignore-not-found") rm -f "$STATE/node" ;;
  *) echo "fake kubectl: unsupported: $*" >&2; exit 1 ;;
esac
"""


@pytest.mark.process
@pytest.mark.parametrize(
    ("machine", "node", "removed", "fails"),
    [
        ("joined-before", "False", False, False),  # a member: never touched
        ("not-joined", None, False, False),  # a new machine, no old record
        ("not-joined", "False", True, False),  # reinstalled: old record forgotten
        ("not-joined", "True", False, True),  # a Ready Node of that name: refused
    ],
)
def test_a_reinstalled_machine_replaces_its_old_record(
    tmp_path: Path, machine: str, node: str | None, removed: bool, fails: bool
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(_FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    if node is not None:
        (tmp_path / "node").write_text(node)
    script = render_script(
        KUBEADM_DIR / "remove-node.sh", {"NODE_NAME": "cp-2", "CONTROL_PLANE": "true", "ONLY_STALE": "true"}
    )
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STATE=str(tmp_path), MACHINE_STATE=machine)
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert (result.returncode != 0) == fails, result.stderr
    log = (tmp_path / "log").read_text() if (tmp_path / "log").exists() else ""
    assert ("member remove 8e9e05c52164694d" in log) == removed
    assert ("delete node cp-2" in log) == removed
    if fails:
        assert "is Ready, yet the machine at this node's address never joined" in result.stderr


@pytest.mark.process
def test_leaving_control_plane_is_forgotten_even_when_an_answer_is_cut_off(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kubectl").write_text(_FAKE_KUBECTL)
    (bin_dir / "kubectl").chmod(0o755)
    (tmp_path / "node").write_text("True")
    (tmp_path / "eof").write_text("")
    script = render_script(KUBEADM_DIR / "remove-node.sh", {"NODE_NAME": "cp-2", "CONTROL_PLANE": "true"})
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", STATE=str(tmp_path))
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "retrying" in result.stderr
    log = (tmp_path / "log").read_text()
    assert "member remove 8e9e05c52164694d" in log and "delete node cp-2" in log


def test_a_shutdown_delay_past_the_kubelets_grace_is_refused() -> None:
    settings = fixture("production")
    settings["cluster"]["apiEndpoint"]["shutdownDelaySeconds"] = 25
    with pytest.raises(StackConfigError) as refused:
        parse_stack(settings)
    assert "cluster.apiEndpoint.shutdownDelaySeconds: Input should be less than or equal to 20" in str(refused.value)
