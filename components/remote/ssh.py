"""Run a script on a machine over SSH (paramiko), the way an operator would.

Scripts go to `bash -s` on standard input, so neither the script nor the
secrets exported at its top appear in any process list; output that comes back
is scrubbed of those secrets before it is shown or raised."""

from __future__ import annotations

import base64
import binascii
import io
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import paramiko

_KEY_TYPES: tuple[type[paramiko.PKey], ...] = (
    paramiko.Ed25519Key,
    paramiko.ECDSAKey,
    paramiko.RSAKey,
)
_OUTPUT_TAIL_LINES = 40


class RemoteError(Exception):
    """A connection or script failure, with a message safe to print."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int = 22
    user: str = "root"
    host_key: str | None = None  # "ssh-ed25519 AAAA..."; None trusts on first use


@dataclass(frozen=True)
class Connection:
    target: Endpoint
    private_key: str
    bastion: Endpoint | None = None
    connect_timeout: float = 15.0
    dial_attempts: int = 10
    dial_retry_delay: float = 6.0

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Connection:
        bastion = data.get("bastion")
        return cls(
            target=Endpoint(**data["target"]),  # type: ignore[arg-type]
            private_key=str(data["private_key"]),
            bastion=Endpoint(**bastion) if bastion else None,  # type: ignore[arg-type]
            connect_timeout=float(data.get("connect_timeout", 15.0)),  # type: ignore[arg-type]
            dial_attempts=int(data.get("dial_attempts", 10)),  # type: ignore[arg-type]
            dial_retry_delay=float(data.get("dial_retry_delay", 6.0)),  # type: ignore[arg-type]
        )


@dataclass
class Result:
    stdout: str
    stderr: str
    exit_status: int
    secrets: list[str] = field(default_factory=list)


def load_private_key(text: str) -> paramiko.PKey:
    for key_type in _KEY_TYPES:
        try:
            return key_type.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise RemoteError("sshPrivateKey: not an unencrypted Ed25519, ECDSA or RSA private key")


def _known_name(endpoint: Endpoint) -> str:
    return endpoint.host if endpoint.port == 22 else f"[{endpoint.host}]:{endpoint.port}"


def _client_for(endpoint: Endpoint) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    if endpoint.host_key:
        key_type, _, blob = endpoint.host_key.strip().partition(" ")
        blob = blob.split()[0] if blob else ""
        try:
            key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
        except (binascii.Error, paramiko.SSHException, ValueError) as error:
            raise RemoteError(f"{endpoint.host}: hostKey is not a valid public key ({error})") from None
        client.get_host_keys().add(_known_name(endpoint), key_type, key)
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
    else:
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    return client


def _dial(connection: Connection) -> tuple[paramiko.SSHClient, paramiko.SSHClient | None]:
    key = load_private_key(connection.private_key)
    jump: paramiko.SSHClient | None = None
    sock = None
    if connection.bastion:
        jump = _client_for(connection.bastion)
        _connect(jump, connection.bastion, key, connection.connect_timeout, None)
        transport = jump.get_transport()
        assert transport is not None
        sock = transport.open_channel(
            "direct-tcpip", (connection.target.host, connection.target.port), ("127.0.0.1", 0)
        )
    client = _client_for(connection.target)
    try:
        _connect(client, connection.target, key, connection.connect_timeout, sock)
    except Exception:
        if jump:
            jump.close()
        raise
    return client, jump


def _connect(
    client: paramiko.SSHClient,
    endpoint: Endpoint,
    key: paramiko.PKey,
    timeout: float,
    sock: paramiko.Channel | None,
) -> None:
    client.connect(
        hostname=endpoint.host,
        port=endpoint.port,
        username=endpoint.user,
        pkey=key,
        sock=sock,
        timeout=timeout,
        banner_timeout=timeout,
        auth_timeout=timeout,
        allow_agent=False,
        look_for_keys=False,
    )


def connect(connection: Connection) -> tuple[paramiko.SSHClient, paramiko.SSHClient | None]:
    """Dial with retries: a machine that was just installed may still boot.
    Authentication and host-key failures are not retried."""
    where = f"{connection.target.user}@{connection.target.host}:{connection.target.port}"
    last: Exception | None = None
    for attempt in range(1, connection.dial_attempts + 1):
        try:
            return _dial(connection)
        except paramiko.BadHostKeyException:
            raise RemoteError(
                f"{where}: host key does not match the pinned hostKey; "
                "if the machine was reinstalled, update hostKey in the inventory"
            ) from None
        except paramiko.AuthenticationException:
            raise RemoteError(
                f"{where}: authentication failed; is the public key of sshPrivateKey authorised?"
            ) from None
        except paramiko.SSHException as error:
            if "not found in known_hosts" in str(error):
                raise RemoteError(f"{where}: host key not trusted ({error})") from None
            last = error
        except (TimeoutError, OSError) as error:
            last = error
        if attempt < connection.dial_attempts:
            time.sleep(connection.dial_retry_delay)
    raise RemoteError(f"{where}: unreachable after {connection.dial_attempts} attempts ({last})")


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[secret]")
    return text


def _tail(text: str) -> str:
    return "\n".join(text.rstrip().splitlines()[-_OUTPUT_TAIL_LINES:])


def run_script(
    connection: Connection,
    script: str,
    secret_env: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Result:
    """Run `script` with bash (through sudo for non-root users), `env` and
    `secret_env` exported (only the latter scrubbed from its output); raise
    RemoteError with the output's tail if it exits non-zero."""
    secret_env = dict(secret_env or {})
    secrets = [connection.private_key, *secret_env.values()]
    client, jump = connect(connection)
    try:
        command = "bash -s" if connection.target.user == "root" else "sudo -n bash -s"
        stdin, stdout, stderr = client.exec_command(command)
        exported = {**(env or {}), **secret_env}
        prelude = "".join(f"export {name}={_quote(value)}\n" for name, value in exported.items())
        stdin.write(_insert_after_shebang(script, prelude))
        stdin.channel.shutdown_write()
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        status = stdout.channel.recv_exit_status()
    finally:
        client.close()
        if jump:
            jump.close()
    result = Result(scrub(out, secrets), scrub(err, secrets), status, secrets)
    if status != 0:
        host = connection.target.host
        raise RemoteError(f"{host}: script failed with exit status {status}\n{_tail(result.stderr or result.stdout)}")
    return result


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def _insert_after_shebang(script: str, prelude: str) -> str:
    if not prelude:
        return script
    first, _, rest = script.partition("\n")
    if first.startswith("#!"):
        return f"{first}\n{prelude}{rest}"
    return prelude + script
