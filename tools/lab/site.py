"""The air-gapped site around the lab machines, served from this machine's
address on the lab network: the organisation's CA, an image registry (the
distribution registry, TLS by that CA) holding the images kubeadm deploys,
and a Kubernetes package mirror (a signed apt repository). The stack reaches
them only through its own settings: the package mirror, imageRepository,
the sandbox image and the private registry's CA."""

from __future__ import annotations

import hashlib
import ipaddress
import os
import shutil
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tools.go_cache import cache_root
from tools.lab import apt_repo
from tools.lab.control_plane import _certificate, _key, _name, _pem_key
from tools.lab.network import BALANCER_ADDRESS, HOST_ADDRESS
from tools.lab.oci import Image, Registry

REGISTRY_PORT = 5443
MIRROR_PORT = 8081
REGISTRY = f"{HOST_ADDRESS}:{REGISTRY_PORT}"
IMAGE_REPOSITORY = f"{REGISTRY}/kubernetes"
MIRROR_URL = f"http://{HOST_ADDRESS}:{MIRROR_PORT}"
PACKAGE_REVISION = "1.1"


def versions(directory: Path) -> dict[str, str]:
    """KEY=value lines a build script left beside its binaries."""
    pairs = (line.split("=", 1) for line in (directory / "versions.env").read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def make_ca(directory: Path, address: str = HOST_ADDRESS) -> Path:
    """A CA of the lab's and a serving certificate for `address` signed by it
    (server.crt, server.key; the site's registry by default); the CA's path."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.crt"
    if ca_file.exists():
        return ca_file
    ca_key = _key()
    ca = _certificate(_name("lab site CA"), ca_key)
    key = _key()
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(address))]
    serving = _certificate(_name(address), key, (ca.subject, ca_key), sans)
    (directory / "server.crt").write_bytes(serving.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(_pem_key(key))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return ca_file


def _wait(url: str, what: str, log: Path, context: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=2, context=context).close()
            return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the lab's {what} did not start on {url}; see {log}") from None
            time.sleep(0.3)


def _spawn(command: list[str], log: Path) -> int:
    output = log.open("ab")
    process = subprocess.Popen(command, stdout=output, stderr=output, stdin=subprocess.DEVNULL, start_new_session=True)
    return process.pid


def start_registry(directory: Path, binary: Path, pki: Path) -> int:
    config = directory / "registry.yml"
    config.write_text(
        "\n".join(
            [
                "version: 0.1",
                "storage:",
                # Content-addressed: shared by every lab, so a push finds its blobs there.
                f"  filesystem: {{rootdirectory: {cache_root() / 'lab-registry-data'}}}",
                "http:",
                f"  addr: {REGISTRY}",
                "  tls:",
                f"    certificate: {pki / 'server.crt'}",
                f"    key: {pki / 'server.key'}",
                "log: {level: warn}",
            ]
        )
        + "\n"
    )
    log = directory / "registry.log"
    pid = _spawn([str(binary), "serve", str(config)], log)
    _wait(f"https://{REGISTRY}/v2/", "registry", log, ssl.create_default_context(cafile=str(pki / "ca.crt")))
    return pid


def start_mirror(directory: Path) -> int:
    log = directory / "mirror.log"
    command = [sys.executable, "-m", "http.server", str(MIRROR_PORT), "--bind", HOST_ADDRESS]
    pid = _spawn([*command, "--directory", str(directory / "www")], log)
    _wait(f"{MIRROR_URL}/", "package mirror", log)
    return pid


def start_balancer(directory: Path, backends: list[str], port: int = 6443) -> int:
    """Debian's haproxy as the site's external load balancer: TCP to every
    control plane's API server, each checked, on the balancer's address."""
    config = directory / "haproxy.cfg"
    servers = [f"  server cp{index} {address}:{port} check" for index, address in enumerate(backends, 1)]
    config.write_text(
        "\n".join(
            [
                "global",
                "  maxconn 2000",
                "defaults",
                "  mode tcp",
                "  timeout connect 5s",
                "  timeout client 1h",
                "  timeout server 1h",
                "frontend kubernetes",
                f"  bind {BALANCER_ADDRESS}:{port}",
                "  default_backend control-planes",
                "backend control-planes",
                # Ready API servers only (a restarting one is out within two
                # seconds), and a refused connection tried on the next one.
                "  option httpchk GET /readyz",
                "  option redispatch",
                "  retries 3",
                "  default-server inter 1s fall 2 rise 2 check-ssl verify none",
                "  balance roundrobin",
                *servers,
            ]
        )
        + "\n"
    )
    return _spawn(["haproxy", "-db", "-f", str(config)], directory / "haproxy.log")


def kubernetes_repo_url(minor: str) -> str:
    return f"{MIRROR_URL}/kubernetes/v{minor}/"


def _debs(kubernetes: Path, site: Path) -> list[Path]:
    """One release's .debs, packed once and cached beside its binaries'
    cache (keyed by release, cri-tools version and the packing code)."""
    version = versions(kubernetes)["KUBERNETES_VERSION"]
    crictl_version = versions(site)["CRI_TOOLS_VERSION"]
    recipe = hashlib.sha256(Path(apt_repo.__file__).read_bytes()).hexdigest()[:8]
    out = cache_root() / f"lab-debs-v{version}-cri-tools-v{crictl_version}-{recipe}"
    if not (out / ".complete").exists():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        for package in apt_repo.packages(kubernetes, version, site / "crictl", crictl_version, PACKAGE_REVISION):
            apt_repo.build_deb(package, out)
        (out / ".complete").write_text("")
    return sorted(out.glob("*.deb"))


def publish_packages(directory: Path, releases: list[Path], site: Path) -> None:
    """Each minor's repository under the mirror (pkgs.k8s.io's layout), with
    every release of it the lab built."""
    by_minor: dict[str, dict[str, Path]] = {}
    for kubernetes in releases:
        minor = versions(kubernetes)["KUBERNETES_VERSION"].rsplit(".", 1)[0]
        by_minor.setdefault(minor, {}).update({deb.name: deb for deb in _debs(kubernetes, site)})
    for minor, debs in by_minor.items():
        apt_repo.publish(list(debs.values()), directory / "www" / "kubernetes" / f"v{minor}", directory / "gnupg")


def _inside(rootfs: Path, path: str) -> Path:
    """The file `path` names inside the machine image, links followed there."""
    for _ in range(40):
        full = rootfs / path.lstrip("/")
        if not full.is_symlink():
            return full
        target = os.readlink(full)
        path = target if target.startswith("/") else os.path.normpath(os.path.join(os.path.dirname(path), target))
    raise RuntimeError(f"{path}: too many links in the machine image")


def closure(rootfs: Path, programs: list[str]) -> dict[str, Path]:
    """Programs from the machine image and the shared libraries they load."""
    files: dict[str, Path] = {}
    pending = list(programs)
    while pending:
        inside = pending.pop()
        if inside in files:
            continue
        files[inside] = _inside(rootfs, inside)
        listing = subprocess.run(
            ["chroot", str(rootfs), "ldd", inside], capture_output=True, text=True, check=False
        ).stdout
        pending += [part for part in listing.split() if part.startswith("/") and part not in files]
    return files


def kube_proxy_extras(rootfs: Path) -> tuple[dict[str, Path], dict[str, str]]:
    """iptables (nft flavour, as Debian 12 machines use) and its extensions."""
    multi = "/usr/sbin/xtables-nft-multi"
    extensions = [f"/{p.relative_to(rootfs)}" for p in (rootfs / "usr/lib/x86_64-linux-gnu/xtables").glob("*.so")]
    files = closure(rootfs, [multi, "/usr/sbin/conntrack", *extensions])
    links = {
        f"/usr/sbin/{tool}": "xtables-nft-multi"
        for tool in (
            "iptables",
            "iptables-save",
            "iptables-restore",
            "ip6tables",
            "ip6tables-save",
            "ip6tables-restore",
        )
    }
    return files, links


def images(kubernetes: Path, site: Path, rootfs: Path) -> list[Image]:
    found = versions(kubernetes)
    tag = f"v{found['KUBERNETES_VERSION']}"
    components = ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
    made = [Image(f"kubernetes/{name}", tag, {f"/usr/local/bin/{name}": kubernetes / name}) for name in components]
    proxy_files, proxy_links = kube_proxy_extras(rootfs)
    made.append(
        Image(
            "kubernetes/kube-proxy",
            tag,
            {"/usr/local/bin/kube-proxy": kubernetes / "kube-proxy", **proxy_files},
            links=proxy_links,
        )
    )
    etcd = {f"/usr/local/bin/{name}": kubernetes / name for name in ("etcd", "etcdutl")}
    made.append(Image("kubernetes/etcd", found["ETCD_VERSION"], {**etcd, "/usr/local/bin/etcdctl": site / "etcdctl"}))
    made.append(Image("kubernetes/coredns", f"v{found['COREDNS_VERSION']}", {"/coredns": kubernetes / "coredns"},
                      entrypoint=["/coredns"]))  # fmt: skip
    made.append(
        Image("kubernetes/pause", found["PAUSE_VERSION"], {"/pause": kubernetes / "pause"}, entrypoint=["/pause"])
    )
    return made


def push_images(made: list[Image], ca_file: Path) -> None:
    registry = Registry(REGISTRY, ca_file)
    for image in made:
        registry.push(image)
