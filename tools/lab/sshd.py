"""Real OpenSSH servers on loopback addresses, for the lab and the tests: each
with its own host key and an authorised key generated for it."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path) -> tuple[str, str]:
    """(private key text, public key line) of an Ed25519 key at `path`, made
    if it is not there yet (a restarted host keeps its pinned host key)."""
    if not path.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.read_text(), path.with_suffix(".pub").read_text().strip()


@dataclass
class SshServer:
    port: int
    host_key: str  # public host key line, for pinning
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_sshd(directory: Path, authorized_key: str, address: str = "127.0.0.1", port: int | None = None) -> SshServer:
    if not Path(SSHD).exists():
        raise RuntimeError("sshd not found: install Debian's openssh-server (the Makefile's deps target does)")
    directory.mkdir(parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(exist_ok=True)  # privilege-separation directory
    _, host_public = keygen(directory / "host_ed25519")
    (directory / "authorized_keys").write_text(authorized_key + "\n")
    port = port or free_port()
    config = directory / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                f"ListenAddress {address}",
                f"HostKey {directory / 'host_ed25519'}",
                f"PidFile {directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {directory / 'authorized_keys'}",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PubkeyAuthentication yes",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
                "AllowTcpForwarding yes",
                "",
            ]
        )
    )
    log = directory / "sshd.log"
    # Its own session: a lab's hosts outlive the command that started them.
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=log.open("wb"), start_new_session=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH-"):
                    return SshServer(port, host_public, process, log)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"sshd did not start: {log.read_text()}")
