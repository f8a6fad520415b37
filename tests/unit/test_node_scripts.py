"""node-prep.sh and gpu-host.sh: shellcheck-clean once rendered, and idempotent.

The scripts run for real under bash, against a scratch PREP_ROOT and with
recording stand-ins for the system commands first on PATH. The stand-ins keep a
little fake machine state (installed packages, holds, units, swap) so that a
second run sees what the first one did, exactly as on a real node."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import textwrap
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.charts import merged
from components.scripts import render_script

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


# --- the fake machine --------------------------------------------------------

_PRELUDE = """\
#!/usr/bin/env bash
set -euo pipefail
{ printf '%s' "${0##*/}"; printf ' %s' "$@"; printf '\\n'; } >>"$FAKE_LOG"
S=$FAKE_STATE
"""

# name -> body run after the prelude. Each keeps just enough state for the
# scripts' read-only queries to see what earlier mutating calls did.
_STAND_INS: dict[str, str] = {
    "apt-get": r"""
case ${1-} in
  update) ;;
  install)
    shift
    skip=0
    for arg in "$@"; do
      if ((skip)); then skip=0; continue; fi
      case $arg in
        -o) skip=1 ;;
        -*) ;;
        *)
          name=${arg%%=*}
          version=${arg#"$name"}
          version=${version#=}
          if [[ -e $S/holds/$name ]]; then
            echo "E: Held packages were changed and -y was used without --allow-change-held-packages." >&2
            exit 100
          fi
          printf '%s\n' "${version:-9.9-candidate}" >"$S/dpkg/$name"
          case $name in
            # Debian postinst scripts enable and start the daemon.
            containerd | containerd.io) touch "$S/enabled/containerd" "$S/active/containerd" ;;
            nvidia-container-toolkit-base)
              mkdir -p "$PREP_ROOT/etc/nvidia-container-runtime"
              printf '%s\n' '#accept-nvidia-visible-devices-as-volume-mounts = false' \
                '#accept-nvidia-visible-devices-envvar-when-unprivileged = true' '' \
                '[nvidia-container-cli]' 'ldconfig = "@/sbin/ldconfig.real"' \
                >"$PREP_ROOT/etc/nvidia-container-runtime/config.toml"
              ;;
          esac
          ;;
      esac
    done
    ;;
  *) echo "fake apt-get: unsupported: $*" >&2; exit 1 ;;
esac
""",
    "dpkg-query": r"""
name=${!#}
if [[ -f $S/dpkg/$name ]]; then
  printf 'installed %s' "$(<"$S/dpkg/$name")"
else
  echo "dpkg-query: no packages found matching $name" >&2
  exit 1
fi
""",
    "dpkg": r"""
[[ ${1-} == --print-architecture ]] || { echo "fake dpkg: unsupported: $*" >&2; exit 1; }
echo amd64
""",
    "apt-mark": r"""
cmd=$1
shift
case $cmd in
  hold) for p in "$@"; do touch "$S/holds/$p"; done ;;
  unhold) for p in "$@"; do rm -f "$S/holds/$p"; done ;;
  showhold) ls "$S/holds" ;;
  *) echo "fake apt-mark: unsupported: $cmd" >&2; exit 1 ;;
esac
""",
    "systemctl": r"""
words=()
now=0
for arg in "$@"; do
  case $arg in
    --now) now=1 ;;
    -*) ;;
    *) words+=("$arg") ;;
  esac
done
unit=${words[1]}
case ${words[0]} in
  is-enabled) [[ -e $S/enabled/$unit ]] ;;
  is-active) [[ -e $S/active/$unit ]] ;;
  enable)
    touch "$S/enabled/$unit"
    if ((now)); then touch "$S/active/$unit"; fi
    ;;
  start | restart) touch "$S/active/$unit" ;;
  *) echo "fake systemctl: unsupported: $*" >&2; exit 1 ;;
esac
""",
    "swapon": r"""
if [[ -f $S/swap ]]; then cat "$S/swap"; fi
""",
    "swapoff": r"""
rm -f "$S/swap"
""",
    "modprobe": r"""
mkdir -p "$PREP_ROOT/sys/module/$1"
""",
    "sysctl": "true\n",
    "curl": r"""
echo "-----BEGIN PGP PUBLIC KEY BLOCK----- fake key from ${!#}"
""",
    "gpg": r"""
sed 's/^/dearmored: /'
""",
    # `containerd --config PATH config dump`: the file plus its imported drop-ins.
    "containerd": r"""
[[ $1 == --config && $3 == config && $4 == dump ]] || { echo "fake containerd: unsupported: $*" >&2; exit 1; }
cat "$2"
if grep -q '^imports' "$2"; then
  for f in "$PREP_ROOT"/etc/containerd/conf.d/*.toml; do
    if [[ -f $f ]]; then cat "$f"; fi
  done
fi
""",
    # Toolkit 1.17 edits config.toml in place (re-serialising it, which drops
    # comments); with FAKE_NVCTK_DROPIN set it behaves like 1.18 and writes a
    # drop-in that config.toml imports.
    "nvidia-ctk": r"""
case $1 in
  runtime)
    for arg in "$@"; do
      if [[ $arg == --help ]]; then
        echo "--config value  path to the config file for the target runtime"
        if [[ -n ${FAKE_NVCTK_DROPIN-} ]]; then echo "--drop-in-config value  path to the drop-in"; fi
        exit 0
      fi
    done
    config="" drop_in=""
    for arg in "$@"; do
      case $arg in
        --config=*) config=${arg#*=} ;;
        --drop-in-config=*) drop_in=${arg#*=} ;;
      esac
    done
    version=$(sed -n 's/^version = //p' "$config")
    if [[ $version == 2 ]]; then plugin='"io.containerd.grpc.v1.cri"'; else plugin='"io.containerd.cri.v1.runtime"'; fi
    stanza="
[plugins.$plugin.containerd]
  default_runtime_name = \"nvidia\"

[plugins.$plugin.containerd.runtimes.nvidia]
  runtime_type = \"io.containerd.runc.v2\"

[plugins.$plugin.containerd.runtimes.nvidia.options]
  BinaryName = \"/usr/bin/nvidia-container-runtime\"
  SystemdCgroup = true"
    if [[ -n $drop_in ]]; then
      mkdir -p "$(dirname "$drop_in")"
      printf '%s\n' "$stanza" >"$drop_in"
      { printf 'imports = ["%s/*.toml"]\n' "$(dirname "$drop_in")"; grep -v '^#' "$config"; } >"$config.new"
    else
      { grep -v '^#' "$config"; printf '%s\n' "$stanza"; } >"$config.new"
    fi
    mv "$config.new" "$config"
    ;;
  config)
    file="" setting=""
    while (($#)); do
      case $1 in
        --config-file=*) file=${1#*=} ;;
        --set) setting=$2; shift ;;
      esac
      shift
    done
    key=${setting%%=*}
    mkdir -p "$(dirname "$file")"
    touch "$file"
    {
      printf '%s = %s\n' "$key" "${setting#*=}"
      grep -Ev "^#?[[:space:]]*$key[[:space:]]*=" "$file" || true
    } >"$file.new"
    mv "$file.new" "$file"
    ;;
  *) echo "fake nvidia-ctk: unsupported: $*" >&2; exit 1 ;;
esac
""",
}

# Calls that only read state; anything else a script runs counts as a change.
_READ_ONLY: tuple[tuple[str, ...], ...] = (
    ("dpkg-query",),
    ("dpkg", "--print-architecture"),
    ("apt-mark", "showhold"),
    ("systemctl", "is-enabled"),
    ("systemctl", "is-active"),
    ("swapon", "--show"),
    ("containerd", "config", "dump"),
    ("nvidia-ctk", "runtime", "configure", "--help"),
)


def _matches(call: list[str], name: str, *words: str) -> bool:
    return bool(call) and call[0] == name and all(word in call[1:] for word in words)


@dataclass
class Run:
    calls: list[list[str]]
    stdout: str

    def called(self, name: str, *words: str) -> bool:
        return any(_matches(call, name, *words) for call in self.calls)

    def mutating(self) -> list[str]:
        return [" ".join(call) for call in self.calls if not any(_matches(call, *pattern) for pattern in _READ_ONLY)]


class FakeNode:
    """A scratch root plus stand-in commands, seeded as a fresh Ubuntu 24.04."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.state = base / "state"
        self.bin = base / "bin"
        self.log = base / "calls.log"
        for directory in ("dpkg", "holds", "enabled", "active"):
            (self.state / directory).mkdir(parents=True)
        self.bin.mkdir()
        for name, body in _STAND_INS.items():
            path = self.bin / name
            path.write_text(_PRELUDE + textwrap.dedent(body))
            path.chmod(0o755)
        for package, version in {"ca-certificates": "20240203", "curl": "8.5.0-2ubuntu10", "gpg": "2.4.4"}.items():
            (self.state / "dpkg" / package).write_text(version + "\n")
        (self.state / "swap").write_text("/swap.img file 8G 0B -2\n")
        etc = self.root / "etc"
        etc.mkdir(parents=True)
        (etc / "fstab").write_text(
            "UUID=0f3a / ext4 defaults 0 1\n/swap.img\tnone\tswap\tsw\t0\t0\n# /old.swap none swap sw 0 0\n"
        )
        (etc / "os-release").write_text('NAME="Ubuntu"\nVERSION_ID="24.04"\nVERSION_CODENAME=noble\n')
        (self.root / "sys" / "module").mkdir(parents=True)
        self.scripts = base / "scripts"
        self.scripts.mkdir()

    def execute(
        self, script: Path, params: Mapping[str, str], extra_env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        rendered = self.scripts / script.name
        rendered.write_text(render_script(script, params))
        self.log.write_text("")
        env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "PREP_ROOT": str(self.root),
            "FAKE_STATE": str(self.state),
            "FAKE_LOG": str(self.log),
            "HOME": str(self.base),
            "LC_ALL": "C",
            **(extra_env or {}),
        }
        return subprocess.run(
            ["bash", str(rendered)], env=env, capture_output=True, text=True, check=False, timeout=120
        )

    def run(self, script: Path, params: Mapping[str, str], extra_env: Mapping[str, str] | None = None) -> Run:
        result = self.execute(script, params, extra_env)
        assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
        calls = [line.split() for line in self.log.read_text().splitlines() if line.strip()]
        return Run(calls=calls, stdout=result.stdout)

    def snapshot(self) -> dict[str, tuple[str, int, int]]:
        """Content hash, inode and mtime of every file under the scratch root:
        rewriting a file with the same content counts as a change too."""
        snapshot = {}
        for path in sorted(self.root.rglob("*")):
            if path.is_file():
                stat = path.stat()
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                snapshot[str(path.relative_to(self.root))] = (digest, stat.st_ino, stat.st_mtime_ns)
        return snapshot

    def read(self, path: str) -> str:
        return (self.root / path.lstrip("/")).read_text()

    def installed(self, package: str) -> str | None:
        path = self.state / "dpkg" / package
        return path.read_text().strip() if path.exists() else None

    def held(self) -> set[str]:
        return {path.name for path in (self.state / "holds").iterdir()}


@pytest.fixture
def node(tmp_path: Path) -> FakeNode:
    return FakeNode(tmp_path)


def assert_idempotent(node: FakeNode, script: Path, params: Mapping[str, str], **env: str) -> Run:
    before = node.snapshot()
    again = node.run(script, params, env)
    assert again.mutating() == [], f"second {script.name} run changed the machine:\n" + "\n".join(again.mutating())
    assert node.snapshot() == before, f"second {script.name} run changed files"
    assert "changed: nothing" in again.stdout
    return again


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
