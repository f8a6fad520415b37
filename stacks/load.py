"""Read the stack config from Pulumi, validate it, and keep secrets secret.

Plain settings are validated by the pydantic model; secret settings never
enter the model: they stay `pulumi.Output` secrets and only their presence is
checked here."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config
from pydantic import ValidationError

from stacks.cluster import Bootstrap
from stacks.model import ConfigWarning, StackConfig
from stacks.runai import SsoType, registry_secret

# Secret settings: key -> how to set it.
SECRET_KEYS: dict[str, str] = {
    "sshPrivateKey": "pulumi config set --secret sshPrivateKey < ~/.ssh/id_ed25519",
    "kubeconfig": "pulumi config set --secret kubeconfig < admin.conf",
    "registryPassword": "pulumi config set --secret registryPassword",
    "backupAccessKeyId": "pulumi config set --secret backupAccessKeyId",
    "backupSecretAccessKey": "pulumi config set --secret backupSecretAccessKey",
    "runaiClientSecret": "pulumi config set --secret runaiClientSecret",
    "runaiAdminPassword": "pulumi config set --secret runaiAdminPassword",
    "runaiSsoClientSecret": "pulumi config set --secret runaiSsoClientSecret",
    "runaiTlsKey": "pulumi config set --secret runaiTlsKey < runai.example.com.key",
    "runaiPostgresPassword": "pulumi config set --secret runaiPostgresPassword",
    "runaiRegistryToken": "pulumi config set --secret runaiRegistryToken",
}


class StackConfigError(Exception):
    """A bad stack config: the message names every offending key and the fix."""


@dataclass(frozen=True)
class Secrets:
    ssh_private_key: pulumi.Output[str] | None
    kubeconfig: pulumi.Output[str] | None
    registry_password: pulumi.Output[str] | None
    backup_access_key_id: pulumi.Output[str] | None = None
    backup_secret_access_key: pulumi.Output[str] | None = None
    runai_client_secret: pulumi.Output[str] | None = None
    runai_admin_password: pulumi.Output[str] | None = None
    runai_sso_client_secret: pulumi.Output[str] | None = None
    runai_tls_key: pulumi.Output[str] | None = None
    runai_postgres_password: pulumi.Output[str] | None = None
    runai_registry_token: pulumi.Output[str] | None = None
    registry_passwords: dict[str, pulumi.Output[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadedStack:
    config: StackConfig
    secrets: Secrets


def _key_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif str(part).startswith(("function-", "enum[", "value_error")):
            continue  # pydantic's names for validators, not config keys
        else:
            path += f".{part}" if path else str(part)
    return path or "(stack)"


def format_errors(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown setting; check the spelling against the README's settings table"
        elif item["type"] == "missing":
            message = "required setting is missing"
        lines.append(f"{_key_path(item['loc'])}: {message}")
    return "\n".join(lines)


def parse_stack(raw: Mapping[str, Any]) -> StackConfig:
    """Validate plain settings; raise StackConfigError naming the keys."""
    try:
        # One pass: every unwise-but-allowed setting is reported, and a bad
        # one still fails with the keys named.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise StackConfigError(format_errors(error)) from None
    for warning in caught:
        if issubclass(warning.category, ConfigWarning):
            pulumi.log.warn(str(warning.message))
        else:
            warnings.warn(warning.message, warning.category, stacklevel=2)
    return config


def _project_settings(project: str) -> tuple[dict[str, Any], set[str]]:
    """All settings of our namespace, JSON decoded, and which are secret."""
    settings: dict[str, Any] = {}
    secret: set[str] = set()
    for full_key, value in runtime_config.CONFIG.get().items():
        namespace, _, key = full_key.partition(":")
        if namespace != project:
            continue
        if runtime_config.is_config_secret(full_key):
            secret.add(key)
            continue
        try:
            settings[key] = json.loads(value)
        except (TypeError, json.JSONDecodeError):
            settings[key] = value
    return settings, secret


def check_secrets(config: StackConfig, present: set[str], secret: set[str]) -> None:
    problems = [
        f"{key}: must be a secret; set it with `{how}`"
        for key, how in SECRET_KEYS.items()
        if key in present and key not in secret
    ]
    registry_keys = {registry_secret(registry.name) for registry in config.runai.registries}
    problems += [
        f"{key}: must not be a secret (it is a plain setting)"
        for key in sorted(secret - set(SECRET_KEYS) - registry_keys)
    ]
    problems += [
        f"{key}: required for runai.registries; set it with `pulumi config set --secret {key}`"
        for key in sorted(registry_keys - secret)
    ]
    if config.cluster.bootstrap is Bootstrap.KUBEADM and "sshPrivateKey" not in secret:
        problems.append(f"sshPrivateKey: required in kubeadm mode; set it with `{SECRET_KEYS['sshPrivateKey']}`")
    if config.cluster.bootstrap is Bootstrap.EXISTING and "kubeconfig" not in secret:
        problems.append(f"kubeconfig: required with bootstrap: existing; set it with `{SECRET_KEYS['kubeconfig']}`")
    if config.backup.enabled and config.backup.s3:
        problems += [
            f"{key}: required for backups to S3; set it with `{SECRET_KEYS[key]}`"
            for key in ("backupAccessKeyId", "backupSecretAccessKey")
            if key not in secret
        ]
    problems += _runai_identity_problems(config, secret)
    sso = config.runai.sso
    if sso and sso.type is SsoType.OIDC and "runaiSsoClientSecret" not in secret:
        problems.append(
            f"runaiSsoClientSecret: required with runai.sso (oidc); set it with `{SECRET_KEYS['runaiSsoClientSecret']}`"
        )
    control_plane = config.runai.control_plane
    if control_plane.install and "runaiTlsKey" not in secret:
        problems.append(
            f"runaiTlsKey: required with runai.controlPlane.install; set it with `{SECRET_KEYS['runaiTlsKey']}`"
        )
    if config.runai.charts_need_token and "runaiRegistryToken" not in secret:
        problems.append(
            f"runaiRegistryToken: Run:ai {config.runai.version}'s charts come from NGC, which needs an API key; set "
            f"it with `{SECRET_KEYS['runaiRegistryToken']}`, or point the charts at a mirror"
        )
    if control_plane.install and control_plane.external_postgres and "runaiPostgresPassword" not in secret:
        problems.append(
            "runaiPostgresPassword: required with runai.controlPlane.externalPostgres; set it with "
            f"`{SECRET_KEYS['runaiPostgresPassword']}`"
        )
    if problems:
        raise StackConfigError("\n".join(problems))


def _runai_identity_problems(config: StackConfig, secret: set[str]) -> list[str]:
    """Who the stack is on the control plane: its own application (made with
    the administrator's password) or one made by hand, not both."""
    runai = config.runai
    if not runai.url:
        return []
    if "runaiAdminPassword" in secret:
        if runai.client_id:
            return [
                "runai.clientId: with runaiAdminPassword the stack makes its own application; remove clientId "
                "(and runaiClientSecret), or remove runaiAdminPassword to act as the application made by hand"
            ]
        return []
    if not runai.client_id:
        return [
            "runai.url: say who the stack is on the control plane: set the administrator's password with "
            f"`{SECRET_KEYS['runaiAdminPassword']}` (the stack makes its own application), or give runai.clientId "
            "and runaiClientSecret (an application made by hand)"
        ]
    if "runaiClientSecret" not in secret:
        return [f"runaiClientSecret: required with runai.clientId; set it with `{SECRET_KEYS['runaiClientSecret']}`"]
    return []


def load_stack() -> LoadedStack:
    project = pulumi.get_project()
    settings, secret = _project_settings(project)
    plain = {key: value for key, value in settings.items() if key not in SECRET_KEYS}
    config = parse_stack(plain)
    check_secrets(config, set(settings) | secret, secret)
    cfg = pulumi.Config()
    return LoadedStack(
        config=config,
        secrets=Secrets(
            ssh_private_key=cfg.get_secret("sshPrivateKey"),
            kubeconfig=cfg.get_secret("kubeconfig"),
            registry_password=cfg.get_secret("registryPassword"),
            backup_access_key_id=cfg.get_secret("backupAccessKeyId"),
            backup_secret_access_key=cfg.get_secret("backupSecretAccessKey"),
            runai_client_secret=cfg.get_secret("runaiClientSecret"),
            runai_admin_password=cfg.get_secret("runaiAdminPassword"),
            runai_sso_client_secret=cfg.get_secret("runaiSsoClientSecret"),
            runai_tls_key=cfg.get_secret("runaiTlsKey"),
            runai_postgres_password=cfg.get_secret("runaiPostgresPassword"),
            runai_registry_token=cfg.get_secret("runaiRegistryToken"),
            registry_passwords={
                registry.name: cfg.require_secret(registry_secret(registry.name))
                for registry in config.runai.registries
            },
        ),
    )
