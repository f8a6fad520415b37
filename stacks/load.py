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
from stacks.errors import format_errors, unknown_key
from stacks.model import ConfigWarning, StackConfig
from stacks.runai import SsoType, registry_secret


@dataclass(frozen=True)
class SecretSetting:
    """A secret setting: how to set it, when it is needed, what it holds."""

    how: str
    when: str
    what: str


def _set(key: str, source: str = "") -> str:
    return f"pulumi config set --secret {key}{source}"


SECRET_KEYS: dict[str, SecretSetting] = {
    "sshPrivateKey": SecretSetting(
        _set("sshPrivateKey", " < ~/.ssh/id_ed25519"),
        "`bootstrap: kubeadm`",
        "unencrypted Ed25519, ECDSA or RSA private key authorised on every node",
    ),
    "kubeconfig": SecretSetting(
        _set("kubeconfig", " < admin.conf"), "`bootstrap: existing`", "admin kubeconfig of the existing cluster"
    ),
    "runaiAdminPassword": SecretSetting(
        _set("runaiAdminPassword"),
        "with `runai.url`, unless `runai.clientId` is given",
        "the Run:ai first administrator's password: set on the control plane by the stack, which then makes its own "
        "application",
    ),
    "runaiClientSecret": SecretSetting(
        _set("runaiClientSecret"),
        "with `runai.clientId`",
        "the secret of a Run:ai application made by hand for the stack",
    ),
    "runaiSsoClientSecret": SecretSetting(
        _set("runaiSsoClientSecret"), "`runai.sso` (oidc)", "the client secret the identity provider gave Run:ai"
    ),
    "runaiTlsKey": SecretSetting(
        _set("runaiTlsKey", " < runai.example.com.key"),
        "`runai.controlPlane.install`",
        "the key of `controlPlane.tlsCertificate`",
    ),
    "runaiPostgresPassword": SecretSetting(
        _set("runaiPostgresPassword"), "`runai.controlPlane.externalPostgres`", "the control plane's database password"
    ),
    "runaiRegistryToken": SecretSetting(
        _set("runaiRegistryToken"),
        "from 2.25 when installing Run:ai's charts from NGC; else optional",
        "token for Run:ai's registry (runai.jfrog.io up to 2.24; an NGC API key from 2.25, for the charts and "
        "`nvcr.io`); unset when the charts and images are mirrored",
    ),
    "backupAccessKeyId": SecretSetting(
        _set("backupAccessKeyId"), "backups to S3", "the bucket's access key; it reaches the cluster only as a Secret"
    ),
    "backupSecretAccessKey": SecretSetting(
        _set("backupSecretAccessKey"),
        "backups to S3",
        "the bucket's secret key; it reaches the cluster only as a Secret",
    ),
}
# One more per runai.registries[] entry, named by registry_secret().
REGISTRY_SECRET = SecretSetting(
    _set(registry_secret("<name>")),
    "per `runai.registries[]`",
    "that registry's password (never read back from Run:ai; a change creates new credentials)",
)


class StackConfigError(Exception):
    """A bad stack config: the message names every offending key and the fix."""


@dataclass(frozen=True)
class Secrets:
    ssh_private_key: pulumi.Output[str] | None
    kubeconfig: pulumi.Output[str] | None
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


def parse_stack(raw: Mapping[str, Any]) -> StackConfig:
    """Validate plain settings; raise StackConfigError naming the keys."""
    try:
        # One pass: every unwise-but-allowed setting is reported, and a bad
        # one still fails with the keys named.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConfigWarning)
            config = StackConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise StackConfigError(format_errors(StackConfig, error)) from None
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
        f"{key}: must be a secret; set it with `{setting.how}`"
        for key, setting in SECRET_KEYS.items()
        if key in present and key not in secret
    ]
    registry_keys = {registry_secret(registry.name) for registry in config.runai.registries}
    plain = [field.alias or name for name, field in StackConfig.model_fields.items()]
    problems += [
        f"{key}: must not be a secret (it is a plain setting)"
        if key in plain
        else f"{key}: {unknown_key(key, [*SECRET_KEYS, *registry_keys, *plain])}"
        for key in sorted(secret - set(SECRET_KEYS) - registry_keys)
    ]
    problems += [
        f"{key}: required for runai.registries; set it with `pulumi config set --secret {key}`"
        for key in sorted(registry_keys - secret)
    ]
    if config.cluster.bootstrap is Bootstrap.KUBEADM and "sshPrivateKey" not in secret:
        problems.append(f"sshPrivateKey: required in kubeadm mode; set it with `{SECRET_KEYS['sshPrivateKey'].how}`")
    if config.cluster.bootstrap is Bootstrap.EXISTING and "kubeconfig" not in secret:
        problems.append(f"kubeconfig: required with bootstrap: existing; set it with `{SECRET_KEYS['kubeconfig'].how}`")
    if config.backup.enabled and config.backup.s3:
        problems += [
            f"{key}: required for backups to S3; set it with `{SECRET_KEYS[key].how}`"
            for key in ("backupAccessKeyId", "backupSecretAccessKey")
            if key not in secret
        ]
    problems += _runai_identity_problems(config, secret)
    sso = config.runai.sso
    if sso and sso.type is SsoType.OIDC and "runaiSsoClientSecret" not in secret:
        problems.append(
            f"runaiSsoClientSecret: required with runai.sso (oidc); set it with "
            f"`{SECRET_KEYS['runaiSsoClientSecret'].how}`"
        )
    control_plane = config.runai.control_plane
    if control_plane.install and "runaiTlsKey" not in secret:
        problems.append(
            f"runaiTlsKey: required with runai.controlPlane.install; set it with `{SECRET_KEYS['runaiTlsKey'].how}`"
        )
    if config.runai.charts_need_token and "runaiRegistryToken" not in secret:
        problems.append(
            f"runaiRegistryToken: Run:ai {config.runai.version}'s charts come from NGC, which needs an API key; set "
            f"it with `{SECRET_KEYS['runaiRegistryToken'].how}`, or point the charts at a mirror"
        )
    if control_plane.install and control_plane.external_postgres and "runaiPostgresPassword" not in secret:
        problems.append(
            "runaiPostgresPassword: required with runai.controlPlane.externalPostgres; set it with "
            f"`{SECRET_KEYS['runaiPostgresPassword'].how}`"
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
            f"`{SECRET_KEYS['runaiAdminPassword'].how}` (the stack makes its own application), or give runai.clientId "
            "and runaiClientSecret (an application made by hand)"
        ]
    if "runaiClientSecret" not in secret:
        how = SECRET_KEYS["runaiClientSecret"].how
        return [f"runaiClientSecret: required with runai.clientId; set it with `{how}`"]
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
