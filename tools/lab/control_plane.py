"""A real Kubernetes control plane on 127.0.0.1 for the lab: etcd,
kube-apiserver and kube-controller-manager (built by tools/lab_binaries.sh),
certificates generated here, an admin kubeconfig, and a Node object per lab
host. No kubelet runs: Nodes exist so labels, taints and pools apply to real
objects, but no workload ever starts."""

from __future__ import annotations

import base64
import datetime
import io
import ipaddress
import json
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

_DAY = datetime.timedelta(days=1)
_ATTEMPTS = 4


def _with_message(error: urllib.error.HTTPError) -> urllib.error.HTTPError:
    """The same HTTP error with the API server's message in its text (and
    still readable by callers that look at the body)."""
    body = error.read()
    message = body.decode(errors="replace").strip() or error.reason
    return urllib.error.HTTPError(error.url, error.code, f"{error.reason}: {message}", error.headers, io.BytesIO(body))


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(
    subject: x509.Name,
    key: rsa.RSAPrivateKey,
    issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None = None,
    sans: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _DAY)
        .not_valid_after(now + 30 * _DAY)
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common: str, organisation: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common)]
    if organisation:
        parts.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(parts)


@dataclass(frozen=True)
class Pki:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    def create(self, service_ip: str) -> None:
        """CA, API server serving cert, admin and controller-manager client
        certs, service-account key pair."""
        self.directory.mkdir(parents=True, exist_ok=True)
        ca_key = _key()
        ca = _certificate(_name("lab-kubernetes-ca"), ca_key)
        self._write("ca", ca, ca_key)
        sans: list[x509.GeneralName] = [
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address(service_ip)),
        ]
        key = _key()
        self._write("apiserver", _certificate(_name("kube-apiserver"), key, (ca.subject, ca_key), sans), key)
        for name, common, organisation in (
            ("admin", "lab-admin", "system:masters"),
            ("controller-manager", "system:kube-controller-manager", None),
        ):
            key = _key()
            self._write(name, _certificate(_name(common, organisation), key, (ca.subject, ca_key)), key)
        service_accounts = _key()
        self.path("sa.key").write_bytes(_pem_key(service_accounts))
        self.path("sa.pub").write_bytes(
            service_accounts.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        for file in self.directory.iterdir():
            file.chmod(0o600)

    def _write(self, name: str, certificate: x509.Certificate, key: rsa.RSAPrivateKey) -> None:
        self.path(f"{name}.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self.path(f"{name}.key").write_bytes(_pem_key(key))

    def kubeconfig(self, server: str, user: str) -> str:
        def encoded(name: str) -> str:
            return base64.b64encode(self.path(name).read_bytes()).decode()

        return yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {"name": "lab", "cluster": {"server": server, "certificate-authority-data": encoded("ca.crt")}}
                ],
                "users": [
                    {
                        "name": user,
                        "user": {
                            "client-certificate-data": encoded(f"{user}.crt"),
                            "client-key-data": encoded(f"{user}.key"),
                        },
                    }
                ],
                "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": user}}],
                "current-context": "lab",
            }
        )


@dataclass(frozen=True)
class ControlPlane:
    binaries: Path
    directory: Path
    api_port: int
    etcd_port: int
    service_cidr: str = "10.96.0.0/12"
    # On where something keeps the Nodes' status (KWOK in the scheduling
    # tier): it lifts the not-ready taint every new Node is given.
    node_lifecycle: bool = False

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def pki(self) -> Pki:
        return Pki(self.directory / "pki")

    def start(self, admission_plugins: list[str], pids: dict[str, int] | None = None) -> dict[str, int]:
        """Start the three processes; return their PIDs by name (filling `pids`
        as they start, so a failure half-way leaves nothing untracked)."""
        network = ipaddress.ip_network(self.service_cidr)
        self.pki.create(str(network.network_address + 1))
        (self.directory / "controller-manager.kubeconfig").write_text(
            self.pki.kubeconfig(self.server, "controller-manager")
        )
        pids = {} if pids is None else pids
        pids["etcd"] = self.start_etcd()
        pids["kube-apiserver"] = self.start_apiserver(admission_plugins)
        pids["kube-controller-manager"] = self.start_controller_manager()
        return pids

    def start_controller_manager(self) -> int:
        return self._spawn("kube-controller-manager", self._controller_manager_args())

    @property
    def etcd_data(self) -> Path:
        return self.directory / "etcd"

    def start_etcd(self) -> int:
        """Start etcd on its data directory (again, after a restore) and wait until healthy."""
        pid = self._spawn("etcd", self._etcd_args())
        self._wait(f"http://127.0.0.1:{self.etcd_port}/health", "etcd")
        return pid

    def start_apiserver(self, admission_plugins: list[str]) -> int:
        """Start kube-apiserver (again, after a stop) and wait until ready."""
        pid = self._spawn("kube-apiserver", self._apiserver_args(admission_plugins))
        self.wait_ready()
        return pid

    def _spawn(self, name: str, args: list[str]) -> int:
        log = (self.directory / f"{name}.log").open("ab")
        process = subprocess.Popen([str(self.binaries / name), *args], stdout=log, stderr=log, start_new_session=True)
        return process.pid

    def _etcd_args(self) -> list[str]:
        url = f"http://127.0.0.1:{self.etcd_port}"
        return [
            f"--data-dir={self.etcd_data}",
            f"--listen-client-urls={url}",
            f"--advertise-client-urls={url}",
            "--listen-peer-urls=http://127.0.0.1:0",
            # A throwaway store: without fsync a write does not wait behind the
            # disk while other lab work (machine images, builds) floods it.
            "--unsafe-no-fsync",
            "--log-level=warn",
        ]

    def _apiserver_args(self, admission_plugins: list[str]) -> list[str]:
        pki = self.pki
        return [
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--tls-cert-file={pki.path('apiserver.crt')}",
            f"--tls-private-key-file={pki.path('apiserver.key')}",
            f"--client-ca-file={pki.path('ca.crt')}",
            f"--service-account-key-file={pki.path('sa.pub')}",
            f"--service-account-signing-key-file={pki.path('sa.key')}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-cluster-ip-range={self.service_cidr}",
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={','.join(['NodeRestriction', *admission_plugins])}",
        ]

    def _controller_manager_args(self) -> list[str]:
        pki = self.pki
        return [
            f"--kubeconfig={self.directory / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            f"--service-account-private-key-file={pki.path('sa.key')}",
            f"--root-ca-file={pki.path('ca.crt')}",
            "--use-service-account-credentials=true",
            "--leader-elect=false",
            # Without a kubelet (or KWOK) reporting in, node lifecycle would
            # taint every Node unreachable; the lab's Nodes carry only ours.
            "--controllers=*" if self.node_lifecycle else "--controllers=*,-node-lifecycle-controller",
        ]

    def _wait(self, url: str, what: str, context: ssl.SSLContext | None = None, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=3, context=context) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError) as error:
                last = error
            time.sleep(0.5)
        raise RuntimeError(f"{what} did not become ready at {url}: {last}; see {self.directory}/{what}.log")

    def client_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.pki.path("ca.crt")))
        context.load_cert_chain(str(self.pki.path("admin.crt")), str(self.pki.path("admin.key")))
        return context

    def wait_ready(self) -> None:
        self._wait(f"{self.server}/readyz", "kube-apiserver", self.client_context())

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, content_type: str = "application/json"
    ) -> dict[str, Any]:
        """One API request as the lab's admin. A server-side failure (5xx: an
        etcd write that timed out while the disk was busy) is tried again a
        few times; the error that escapes carries the server's message."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.server}{path}", data=data, method=method, headers={"Content-Type": content_type}
        )
        attempt = 0
        while True:
            try:
                with urllib.request.urlopen(request, timeout=30, context=self.client_context()) as response:
                    result: dict[str, Any] = json.loads(response.read() or b"{}")
                    return result
            except urllib.error.HTTPError as error:
                attempt += 1
                if error.code < 500 or attempt == _ATTEMPTS:
                    raise _with_message(error) from None
            time.sleep(2 * attempt)

    def register_node(self, name: str, address: str, gpus: int) -> None:
        """A Node object with the inventory's GPU capacity (no kubelet behind it)."""
        try:
            self.request("POST", "/api/v1/nodes", {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}})
        except urllib.error.HTTPError as error:
            if error.code != 409:  # already registered
                raise
        capacity = {"cpu": "8", "memory": "32Gi", "pods": "110"}
        if gpus:
            capacity["nvidia.com/gpu"] = str(gpus)
        status = {
            "status": {
                "capacity": capacity,
                "allocatable": capacity,
                "addresses": [{"type": "InternalIP", "address": address}],
            }
        }
        self.request("PATCH", f"/api/v1/nodes/{name}/status", status, "application/merge-patch+json")

    def install_crd(self, crd: dict[str, Any], seconds: float = 60) -> None:
        """Create a CRD (or replace the one of its name) and wait until the
        API server serves it."""
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        named = f"{path}/{crd['metadata']['name']}"
        try:
            self.request("POST", path, crd)
        except urllib.error.HTTPError as error:
            if error.code != 409:
                raise
            current = self.request("GET", named)["metadata"]["resourceVersion"]
            self.request("PUT", named, {**crd, "metadata": {**crd["metadata"], "resourceVersion": current}})
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            status = self.request("GET", named).get("status") or {}
            conditions = status.get("conditions") or []  # null just after creation
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
            time.sleep(0.5)
        raise RuntimeError(f"CRD {crd['metadata']['name']} was not established within {seconds:g}s")

    def node(self, name: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v1/nodes/{name}")
