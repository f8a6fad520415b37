"""node-prep.sh and gpu-host.sh: shellcheck-clean once rendered, and idempotent.

The scripts run for real under bash, against a scratch PREP_ROOT and with
recording stand-ins for the system commands first on PATH. The stand-ins keep a
little fake machine state (installed packages, holds, units, swap) so that a
second run sees what the first one did, exactly as on a real node."""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from components.charts import merged
from components.scripts import render_script
from stacks.packages import ContainerdConfig
from tests.support.fake_node import FakeNode, assert_idempotent

# Every test here runs the rendered scripts (or shellcheck).
pytestmark = pytest.mark.process

SCRIPTS = Path(__file__).resolve().parents[2] / "components" / "node_prep"
NODE_PREP = SCRIPTS / "node-prep.sh"
GPU_HOST = SCRIPTS / "gpu-host.sh"
K8S_PKG_VERSION = "1.32.8-1.1"
TOOLKIT_VERSION = "1.17.8-1"

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBfakefakefake\n-----END CERTIFICATE-----\n"


def node_params(config_version: int, *, mirrors: bool = True, ca: bool = True, **overrides: str) -> dict[str, str]:
    params = {
        "KUBERNETES_VERSION": "1.32.8",
        "KUBERNETES_MINOR": "1.32",
        "KUBERNETES_PACKAGE_REVISION": "1.1",
        "KUBERNETES_APT_REPO": "https://pkgs.k8s.io/core:/stable:/v1.32/deb/",
        "KUBERNETES_APT_KEY_URL": "https://pkgs.k8s.io/core:/stable:/v1.32/deb/Release.key",
        "CONTAINERD_PACKAGE": "containerd",
        "CONTAINERD_VERSION": "",
        "CONTAINERD_APT_REPO": "",
        "CONTAINERD_APT_KEY_URL": "",
        "CONTAINERD_CONFIG_VERSION": str(config_version),
        "CONTAINERD_DATA_ROOT": "/data/containerd",
        "SANDBOX_IMAGE": "registry.k8s.io/pause:3.10",
        "CONTAINERD_CRI_SETTINGS": "",
        "REGISTRY_MIRRORS": "",
        "REGISTRY_CA_HOST": "",
        "REGISTRY_CA_PEM": "",
        "NODE_GENERATION": "1",
    }
    if config_version == 3:
        # containerd 2.x comes from Docker's repository on Ubuntu.
        params |= {
            "CONTAINERD_PACKAGE": "containerd.io",
            "CONTAINERD_VERSION": "2.1.5-1~ubuntu.24.04~noble",
            "CONTAINERD_APT_REPO": "https://download.docker.com/linux/ubuntu {codename} stable",
            "CONTAINERD_APT_KEY_URL": "https://download.docker.com/linux/ubuntu/gpg",
        }
    if mirrors:
        params["REGISTRY_MIRRORS"] = (
            "docker.io=https://mirror.gcr.io,https://registry.corp.example:5000/v2/dockerhub\n"
            "registry.k8s.io=https://k8s-mirror.corp.example\n"
        )
    if ca:
        params["REGISTRY_CA_HOST"] = "registry.corp.example:5000"
        params["REGISTRY_CA_PEM"] = CA_PEM
    return params | overrides


def gpu_params(config_version: int = 2, *, driver: bool = True, toolkit: bool = True) -> dict[str, str]:
    return {
        "NVIDIA_DRIVER_PACKAGE": "nvidia-driver-570-server" if driver else "",
        "NVIDIA_DRIVER_VERSION": "570.172.08-0ubuntu0.24.04.1" if driver else "",
        "NVIDIA_CONTAINER_TOOLKIT_VERSION": TOOLKIT_VERSION if toolkit else "",
        "NVIDIA_APT_REPO": "https://nvidia.github.io/libnvidia-container/stable/deb/{arch} /",
        "NVIDIA_APT_KEY_URL": "https://nvidia.github.io/libnvidia-container/gpgkey",
        "CONTAINERD_CONFIG_VERSION": str(config_version),
    }


# --- shellcheck --------------------------------------------------------------


@pytest.fixture(scope="module")
def shellcheck() -> str:
    path = shutil.which("shellcheck")
    if path is None:
        pytest.fail("shellcheck is not installed: install it (apt-get install shellcheck); these checks must not skip")
    return path


SHELLCHECK_CASES = {
    "node-v2-mirrors-ca": (NODE_PREP, node_params(2)),
    "node-v3-docker-repo-plain": (NODE_PREP, node_params(3, mirrors=False, ca=False)),
    "node-v3-mirrors-no-ca": (NODE_PREP, node_params(3, ca=False)),
    "gpu-driver-toolkit": (GPU_HOST, gpu_params(2)),
    "gpu-no-driver": (GPU_HOST, gpu_params(3, driver=False)),
    "gpu-operator-manages-all": (GPU_HOST, gpu_params(2, driver=False, toolkit=False)),
}


@pytest.mark.parametrize("case", sorted(SHELLCHECK_CASES))
def test_rendered_script_is_shellcheck_clean(case: str, shellcheck: str) -> None:
    path, params = SHELLCHECK_CASES[case]
    text = render_script(path, params)
    result = subprocess.run(
        [shellcheck, "-s", "bash", "-"], input=text, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, f"shellcheck on rendered {path.name} ({case}):\n{result.stdout}{result.stderr}"


@pytest.fixture
def node(tmp_path: Path) -> FakeNode:
    return FakeNode(tmp_path)


# --- node-prep.sh ------------------------------------------------------------


def runc_options(config: dict, version: int) -> dict:
    if version == 2:
        return config["plugins"]["io.containerd.grpc.v1.cri"]["containerd"]["runtimes"]["runc"]["options"]
    return config["plugins"]["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]["options"]


@pytest.mark.parametrize("version", [2, 3])
def test_node_prep_prepares_a_fresh_machine_then_changes_nothing(node: FakeNode, version: int) -> None:
    params = node_params(version)
    first = node.run(NODE_PREP, params)

    pinned = [f"{name}={K8S_PKG_VERSION}" for name in ("kubelet", "kubeadm", "kubectl")]
    assert first.called("apt-get", "install", *pinned)
    assert first.called("apt-mark", "hold", "kubelet", "kubeadm", "kubectl")
    assert first.called("apt-get", "install", "nfs-common")
    assert first.called("apt-get", "update")
    assert first.called("swapoff", "-a")
    assert first.called("modprobe", "overlay") and first.called("modprobe", "br_netfilter")
    assert first.called("sysctl", "--system")
    assert first.called("systemctl", "restart", "containerd")
    assert first.called("systemctl", "enable", "kubelet")
    assert not first.called("apt-get", "install", "ca-certificates")  # already on the machine
    for name in ("kubelet", "kubeadm", "kubectl"):
        assert node.installed(name) == K8S_PKG_VERSION
    assert {"kubelet", "kubeadm", "kubectl"} <= node.held()

    assert node.read("/etc/apt/sources.list.d/kubernetes.list").strip() == (
        "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v1.32/deb/ /"
    )
    assert "overlay\nbr_netfilter" in node.read("/etc/modules-load.d/k8s.conf")
    sysctls = node.read("/etc/sysctl.d/k8s.conf")
    for key in ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables", "net.ipv4.ip_forward"):
        assert f"{key} = 1" in sysctls

    config = tomllib.loads(node.read("/etc/containerd/config.toml"))
    assert config["version"] == version
    assert config["root"] == "/data/containerd"
    assert runc_options(config, version) == {"SystemdCgroup": True}
    if version == 2:
        cri = config["plugins"]["io.containerd.grpc.v1.cri"]
        assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
        assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
        assert cri["containerd"]["runtimes"]["runc"]["runtime_type"] == "io.containerd.runc.v2"
        assert node.installed("containerd") == "9.9-candidate"
        assert "containerd" not in node.held()  # no version asked for: nothing to pin
    else:
        images = config["plugins"]["io.containerd.cri.v1.images"]
        assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"
        assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
        runtime = config["plugins"]["io.containerd.cri.v1.runtime"]
        assert runtime["containerd"]["runtimes"]["runc"]["runtime_type"] == "io.containerd.runc.v2"
        assert node.installed("containerd.io") == params["CONTAINERD_VERSION"]
        assert "containerd.io" in node.held()
        assert node.read("/etc/apt/sources.list.d/containerd.list").strip() == (
            "deb [signed-by=/etc/apt/keyrings/containerd-apt-keyring.gpg] "
            "https://download.docker.com/linux/ubuntu noble stable"
        )
    assert "node-prep: done (generation 1, changed: " in first.stdout

    assert_idempotent(node, NODE_PREP, params)


@pytest.mark.parametrize("version", [2, 3])
def test_node_prep_writes_extra_cri_settings_into_the_plugins_table(node: FakeNode, version: int) -> None:
    settings = ContainerdConfig(cri_settings={"restrict_oom_score_adj": True, "max_concurrent_downloads": 5})
    node.run(NODE_PREP, node_params(version, CONTAINERD_CRI_SETTINGS=settings.cri_settings_toml()))
    config = tomllib.loads(node.read("/etc/containerd/config.toml"))
    table = "io.containerd.grpc.v1.cri" if version == 2 else "io.containerd.cri.v1.runtime"
    assert config["plugins"][table]["restrict_oom_score_adj"] is True
    assert config["plugins"][table]["max_concurrent_downloads"] == 5
    assert runc_options(config, version) == {"SystemdCgroup": True}


def test_node_prep_comments_out_swap_in_fstab(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(2))
    assert node.read("/etc/fstab").splitlines() == [
        "UUID=0f3a / ext4 defaults 0 1",
        "#/swap.img\tnone\tswap\tsw\t0\t0",
        "# /old.swap none swap sw 0 0",
    ]


def test_node_prep_writes_one_hosts_toml_per_mirrored_registry(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(2))
    certs = "/etc/containerd/certs.d"
    ca_path = f"{certs}/registry.corp.example:5000/ca.crt"

    docker = tomllib.loads(node.read(f"{certs}/docker.io/hosts.toml"))
    assert docker == {
        "server": "https://registry-1.docker.io",
        "host": {
            "https://mirror.gcr.io": {"capabilities": ["pull", "resolve"]},
            # Served by the private registry, so it needs that registry's CA.
            "https://registry.corp.example:5000/v2/dockerhub": {
                "capabilities": ["pull", "resolve"],
                "override_path": True,  # the URL's path is the API root (Harbor proxy project)
                "ca": ca_path,
            },
        },
    }
    k8s = tomllib.loads(node.read(f"{certs}/registry.k8s.io/hosts.toml"))
    assert k8s == {
        "server": "https://registry.k8s.io",
        "host": {"https://k8s-mirror.corp.example": {"capabilities": ["pull", "resolve"]}},
    }
    private = tomllib.loads(node.read(f"{certs}/registry.corp.example:5000/hosts.toml"))
    assert private == {"server": "https://registry.corp.example:5000", "ca": ca_path}
    assert node.read(ca_path) == CA_PEM


def test_node_prep_removes_hosts_it_no_longer_mirrors(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(2))
    certs = node.root / "etc/containerd/certs.d"
    (certs / "quay.io").mkdir()
    (certs / "quay.io/hosts.toml").write_text('server = "https://quay.io"\n')  # not ours: kept

    run = node.run(NODE_PREP, node_params(2, mirrors=False))
    assert not (certs / "docker.io").exists()
    assert not (certs / "registry.k8s.io").exists()
    assert (certs / "registry.corp.example:5000/hosts.toml").exists()
    assert (certs / "quay.io/hosts.toml").exists()
    # certs.d is read on every pull: no restart for registry changes.
    assert not run.called("systemctl", "restart", "containerd")
    assert_idempotent(node, NODE_PREP, node_params(2, mirrors=False))


def test_node_prep_reinstalls_held_packages_at_another_version(node: FakeNode) -> None:
    for name in ("kubelet", "kubeadm", "kubectl"):
        (node.state / "dpkg" / name).write_text("1.31.4-1.1\n")
        (node.state / "holds" / name).touch()
    run = node.run(NODE_PREP, node_params(2))
    assert run.called("apt-mark", "unhold", "kubelet", "kubeadm", "kubectl")
    assert {name: node.installed(name) for name in ("kubelet", "kubeadm", "kubectl")} == dict.fromkeys(
        ("kubelet", "kubeadm", "kubectl"), K8S_PKG_VERSION
    )
    assert {"kubelet", "kubeadm", "kubectl"} <= node.held()


def test_node_prep_refuses_a_version_outside_the_minor(node: FakeNode) -> None:
    result = node.execute(NODE_PREP, node_params(2, KUBERNETES_VERSION="1.33.1"))
    assert result.returncode != 0
    assert "not in minor 1.32" in result.stderr
    assert node.log.read_text() == ""


# --- gpu-host.sh -------------------------------------------------------------

TOOLKIT_PACKAGES = (
    "nvidia-container-toolkit",
    "nvidia-container-toolkit-base",
    "libnvidia-container-tools",
    "libnvidia-container1",
)


def cri_containerd(node: FakeNode, version: int) -> dict:
    """The CRI plugin's containerd table, with the nvidia drop-in merged in if there is one."""
    config = tomllib.loads(node.read("/etc/containerd/config.toml"))
    drop_in = node.root / "etc/containerd/conf.d/99-nvidia.toml"
    if drop_in.exists():
        assert config["imports"] == [str(drop_in.parent / "*.toml")]
        config = merged(config, tomllib.loads(drop_in.read_text()))
    plugin = "io.containerd.grpc.v1.cri" if version == 2 else "io.containerd.cri.v1.runtime"
    return config["plugins"][plugin]["containerd"]


@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("toolkit_layout", ["in-place", "drop-in"])
def test_gpu_host_sets_up_driver_and_toolkit_then_changes_nothing(
    node: FakeNode, version: int, toolkit_layout: str
) -> None:
    env = {"FAKE_NVCTK_DROPIN": "1"} if toolkit_layout == "drop-in" else {}
    node.run(NODE_PREP, node_params(version))
    params = gpu_params(version)
    first = node.run(GPU_HOST, params, env)

    driver = f"nvidia-driver-570-server={params['NVIDIA_DRIVER_VERSION']}"
    assert first.called("apt-get", "install", driver)
    assert first.called("apt-get", "install", *(f"{name}={TOOLKIT_VERSION}" for name in TOOLKIT_PACKAGES))
    assert first.called("apt-mark", "hold", *TOOLKIT_PACKAGES)
    assert {"nvidia-driver-570-server", *TOOLKIT_PACKAGES} <= node.held()
    assert first.called("nvidia-ctk", "runtime", "configure", "--runtime=containerd", "--set-as-default")
    assert first.called("systemctl", "restart", "containerd")
    assert node.read("/etc/apt/sources.list.d/nvidia-container-toolkit.list").strip() == (
        "deb [signed-by=/etc/apt/keyrings/nvidia-container-toolkit-keyring.gpg] "
        "https://nvidia.github.io/libnvidia-container/stable/deb/amd64 /"
    )
    cri = cri_containerd(node, version)
    assert cri["default_runtime_name"] == "nvidia"
    assert cri["runtimes"]["nvidia"]["options"]["BinaryName"] == "/usr/bin/nvidia-container-runtime"
    assert cri["runtimes"]["runc"]["options"]["SystemdCgroup"] is True

    runtime_config = tomllib.loads(node.read("/etc/nvidia-container-runtime/config.toml"))
    assert runtime_config["accept-nvidia-visible-devices-as-volume-mounts"] is True
    assert runtime_config["accept-nvidia-visible-devices-envvar-when-unprivileged"] is False
    assert "reboot this node" in first.stdout

    assert_idempotent(node, GPU_HOST, params, **env)
    # node-prep.sh again must keep the runtime gpu-host.sh added.
    assert_idempotent(node, NODE_PREP, node_params(version))
    assert cri_containerd(node, version)["default_runtime_name"] == "nvidia"


def test_gpu_host_without_driver_leaves_the_driver_to_the_gpu_operator(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(2))
    params = gpu_params(2, driver=False)
    first = node.run(GPU_HOST, params)
    assert not any("nvidia-driver" in " ".join(call) for call in first.calls)
    assert first.called("apt-get", "install", f"nvidia-container-toolkit={TOOLKIT_VERSION}")
    assert_idempotent(node, GPU_HOST, params)


def test_gpu_host_passes_apts_own_arch_variable_through(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(2))
    params = gpu_params(2) | {"NVIDIA_APT_REPO": "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /"}
    node.run(GPU_HOST, params)
    assert node.read("/etc/apt/sources.list.d/nvidia-container-toolkit.list").strip() == (
        "deb [signed-by=/etc/apt/keyrings/nvidia-container-toolkit-keyring.gpg] "
        "https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /"
    )


def test_gpu_host_with_everything_left_to_the_gpu_operator_does_nothing(node: FakeNode) -> None:
    run = node.run(GPU_HOST, gpu_params(2, driver=False, toolkit=False))
    assert run.mutating() == []
    assert set(node.snapshot()) == {"etc/fstab", "etc/os-release"}


def test_changed_node_prep_config_is_followed_by_gpu_host_restoring_the_runtime(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(2))
    node.run(GPU_HOST, gpu_params(2))

    new_pause = node_params(2, SANDBOX_IMAGE="registry.k8s.io/pause:3.10.1")
    rewrite = node.run(NODE_PREP, new_pause)
    assert rewrite.called("systemctl", "restart", "containerd")
    assert "gpu-host.sh must run again" in rewrite.stdout
    assert "runtimes.nvidia" not in node.read("/etc/containerd/config.toml")

    restore = node.run(GPU_HOST, gpu_params(2))
    assert restore.called("nvidia-ctk", "runtime", "configure")
    assert restore.called("systemctl", "restart", "containerd")
    config = tomllib.loads(node.read("/etc/containerd/config.toml"))
    assert config["plugins"]["io.containerd.grpc.v1.cri"]["sandbox_image"] == "registry.k8s.io/pause:3.10.1"
    assert cri_containerd(node, 2)["default_runtime_name"] == "nvidia"
    assert_idempotent(node, NODE_PREP, new_pause)
    assert_idempotent(node, GPU_HOST, gpu_params(2))


def test_node_prep_leaves_a_members_kubernetes_version_to_the_upgrade(node: FakeNode) -> None:
    # A joined node at 1.31.9 while the stack says 1.32.8 (a prep re-run for
    # another reason during a rollout): the packages stay where they are.
    for name in ("kubelet", "kubeadm", "kubectl"):
        (node.state / "dpkg" / name).write_text("1.31.9-1.1\n")
    (node.root / "etc" / "kubernetes").mkdir(parents=True)
    (node.root / "etc" / "kubernetes" / "kubelet.conf").write_text("kind: Config\n")
    run = node.run(NODE_PREP, node_params(2))
    assert not run.called("apt-get", "install", f"kubelet={K8S_PKG_VERSION}")
    for name in ("kubelet", "kubeadm", "kubectl"):
        assert node.installed(name) == "1.31.9-1.1"
    assert {"kubelet", "kubeadm", "kubectl"} <= node.held()


def test_node_prep_drops_the_containerd_source_when_back_to_the_distros(node: FakeNode) -> None:
    node.run(NODE_PREP, node_params(3, mirrors=False, ca=False))
    assert (node.root / "etc/apt/sources.list.d/containerd.list").exists()
    back = node.run(NODE_PREP, node_params(2, mirrors=False, ca=False))
    assert not (node.root / "etc/apt/sources.list.d/containerd.list").exists()
    assert not (node.root / "etc/apt/keyrings/containerd-apt-keyring.gpg").exists()
    assert back.called("apt-get", "update")
