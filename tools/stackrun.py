"""Run the real Pulumi engine on a stack without touching the tracked files.

`pulumi stack init` and `pulumi config set --secret` write an encryption salt
and ciphertexts into Pulumi.<stack>.yaml. For local previews, tests and
benchmarks we work in a copy of the project under .pulumi-state/ instead,
with a file:// backend (or PULUMI_BACKEND_URL) and a passphrase kept there.

    python -m tools.stackrun preview dev
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = Path(__file__).resolve().parents[1]
STATE = ROOT / ".pulumi-state"
PROJECT_FILES = ("Pulumi.yaml", "__main__.py", "requirements.txt")
PROJECT_DIRS = ("components", "stacks")


def policy_args(stack: str) -> list[str]:
    """The policy pack, with the stack's enforcement levels and thresholds
    (policy/config/<stack>.json) where it has them."""
    args = ["--policy-pack", str(ROOT / "policy")]
    config = ROOT / "policy" / "config" / f"{stack}.json"
    if config.exists():
        args += ["--policy-pack-config", str(config)]
    return args


def example_stacks() -> list[str]:
    """The users' example stacks: Pulumi.<stack>.yaml at the top level."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in ROOT.glob("Pulumi.*.yaml"))


def preview_command(stack: str) -> list[str]:
    """The pulumi arguments of `make preview`, run in the stack's work copy."""
    return ["preview", "--diff", "--stack", stack, *policy_args(stack)]


def throwaway_key() -> str:
    """An Ed25519 key for previews: nothing is dialled, but the program
    requires the secret to exist."""
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


def throwaway_secrets() -> dict[str, str]:
    """Every secret a preview of our example stacks needs, made up: nothing
    is dialled or called during a preview of machines that do not exist."""
    return {
        "sshPrivateKey": throwaway_key(),
        "runaiAdminPassword": "throwaway-admin-password",
        "runaiTlsKey": "-----BEGIN PRIVATE KEY-----\nthrowaway\n-----END PRIVATE KEY-----",
    }


def engine_env(backend: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    STATE.mkdir(exist_ok=True)
    if backend:
        env["PULUMI_BACKEND_URL"] = backend
    env.setdefault("PULUMI_BACKEND_URL", f"file://{STATE / 'backend'}")
    if env["PULUMI_BACKEND_URL"].startswith("file://"):
        Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    if "PULUMI_CONFIG_PASSPHRASE" not in env and "PULUMI_CONFIG_PASSPHRASE_FILE" not in env:
        passphrase = STATE / "passphrase"
        if not passphrase.exists():
            passphrase.write_text(secrets.token_urlsafe(24))
            passphrase.chmod(0o600)
        env["PULUMI_CONFIG_PASSPHRASE_FILE"] = str(passphrase)
    env["PULUMI_SKIP_UPDATE_CHECK"] = "true"
    env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] = "true"
    return env


def run(
    args: list[str], cwd: Path, env: Mapping[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["pulumi", *args], cwd=cwd, env=dict(env), input=stdin, text=True, capture_output=True, check=False
    )


def failure_text(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed pulumi command said: its policy verdicts and
    diagnostics first (the outputs after them can be long), then its end."""
    text = result.stdout + result.stderr
    starts = [index for index in (text.find("Policies:"), text.find("Diagnostics:")) if index >= 0]
    start = min(starts, default=max(0, len(text) - 4000))
    return text[start : start + 6000] + ("\n...\n" + text[-2000:] if len(text) > start + 6000 else "")


def checked(args: list[str], cwd: Path, env: Mapping[str, str], stdin: str | None = None) -> str:
    result = run(args, cwd, env, stdin)
    if result.returncode != 0:
        raise RuntimeError(f"pulumi {' '.join(args[:2])} failed:\n{failure_text(result)}")
    return result.stdout


def workdir(stack: str, settings: Mapping[str, Any] | None = None, name: str | None = None) -> Path:
    """A fresh copy of the project; `settings` (namespaced keys) replace the
    stack file's config when given."""
    work = STATE / "work" / (name or stack)
    stack_file = work / f"Pulumi.{stack}.yaml"
    # Keep the passphrase salt of a stack made here before: its secrets need it.
    previous = yaml.safe_load(stack_file.read_text()) if stack_file.exists() else {}
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    for file in PROJECT_FILES:
        shutil.copy2(ROOT / file, work / file)
    for directory in PROJECT_DIRS:
        shutil.copytree(ROOT / directory, work / directory, ignore=shutil.ignore_patterns("__pycache__"))
    (work / ".venv").symlink_to(ROOT / ".venv")
    config = settings
    if config is None:
        config = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    document: dict[str, Any] = {"config": dict(config)}
    if previous.get("encryptionsalt"):
        document["encryptionsalt"] = previous["encryptionsalt"]
    stack_file.write_text(yaml.safe_dump(document))
    return work


def init_stack(work: Path, stack: str, env: Mapping[str, str], stack_secrets: Mapping[str, str]) -> None:
    """Create (or select) the stack and set its secrets."""
    if run(["stack", "select", stack], work, env).returncode != 0:
        checked(["stack", "init", stack, "--secrets-provider", "passphrase"], work, env)
    for key, value in stack_secrets.items():
        checked(["config", "set", "--secret", key], work, env, stdin=value)


def preview_json(work: Path, stack: str, env: Mapping[str, str], extra: list[str] | None = None) -> dict[str, Any]:
    result = run(["preview", "--json", "--stack", stack, *(extra or [])], work, env)
    try:
        data: dict[str, Any] = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"pulumi preview failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}") from None
    if result.returncode != 0:
        data.setdefault("failed", True)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["preview"])
    parser.add_argument("stack")
    args = parser.parse_args(argv)
    env = engine_env()
    work = workdir(args.stack)
    key_file = STATE / "preview-ssh-key"
    if not key_file.exists():
        key_file.write_text(throwaway_key())
        key_file.chmod(0o600)
    # Made-up secrets: a preview of these example stacks dials nothing.
    init_stack(work, args.stack, env, throwaway_secrets() | {"sshPrivateKey": key_file.read_text()})
    print(f"pulumi preview --diff -s {args.stack} (backend {env['PULUMI_BACKEND_URL']}, work dir {work})")
    return subprocess.run(["pulumi", *preview_command(args.stack)], cwd=work, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
