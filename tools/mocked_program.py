"""Run the Pulumi program under mocks and record what it registers: the
unit tests' harness, the benchmarks' program evaluation, and how
`tools.images` learns every chart, manifest and image a stack deploys
without an engine or machines."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "runai-cluster"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nmock-private-key-value-4f2a\n-----END OPENSSH PRIVATE KEY-----"
# An admin kubeconfig as kubeadm writes one; its token is the value tests
# look for where it must not appear.
KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: kubernetes
  cluster: {server: "https://10.0.0.10:6443", certificate-authority-data: bW9jay1jYQ==}
users:
- name: kubernetes-admin
  user: {token: mock-kubeconfig-value-9c1d}
contexts:
- name: kubernetes-admin@kubernetes
  context: {cluster: kubernetes, user: kubernetes-admin}
current-context: kubernetes-admin@kubernetes
"""
PREFLIGHT_REPORT = 'ok cpus: 8\nPREFLIGHT {"node": "n", "passed": true, "checks": [{"check": "cpus"}]}\n'
# Enough for every example stack (prod installs Run:ai).
DEFAULT_SECRETS = {
    "sshPrivateKey": SSH_KEY,
    "runaiAdminPassword": "mock-runai-admin-password-6a1e",
    "runaiTlsKey": "-----BEGIN PRIVATE KEY-----\nmock-tls-key-0d4c\n-----END PRIVATE KEY-----",
}
_SECRET_SIG = "4dabf18193072939515e22adb298388d"


def _unwrap(value: Any, path: str, secret_paths: set[str]) -> Any:
    """Strip the RPC secret wrappers, remembering where they were."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            secret_paths.add(path)
            return _unwrap(value["value"], path, secret_paths)
        return {k: _unwrap(v, f"{path}.{k}" if path else k, secret_paths) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v, f"{path}[{i}]", secret_paths) for i, v in enumerate(value)]
    return value


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]
    secret_paths: set[str] = field(default_factory=set)
    # Outputs the engine keeps secret (additional_secret_outputs).
    secret_outputs: set[str] = field(default_factory=set)
    protect: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    # What a component published with register_outputs.
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recorded:
    resources: dict[str, Registration] = field(default_factory=dict)

    def by_name(self, name: str) -> Registration:
        return next(r for r in self.resources.values() if r.name == name)

    def of_type(self, type_: str, under: str = "") -> list[Registration]:
        """Resources of a type; `under` keeps those whose URN's parent-type
        chain names that component type (e.g. "KaiScheduling")."""
        return [r for r in self.resources.values() if r.type == type_ and under in r.urn.split("::")[2]]

    def depth(self, urn: str, memo: dict[str, int] | None = None) -> int:
        """Longest chain of explicit dependencies ending at `urn`."""
        memo = {} if memo is None else memo
        if urn not in memo:
            deps = [d for d in self.resources[urn].dependencies if d in self.resources]
            memo[urn] = 1 + max((self.depth(d, memo) for d in deps), default=0)
        return memo[urn]

    def reaches(self, urn: str, target: str) -> bool:
        """Whether `urn` depends on `target`, directly or through others."""
        seen, todo = set(), [urn]
        while todo:
            current = todo.pop()
            if current == target:
                return True
            if current not in seen:
                seen.add(current)
                todo.extend(d for d in self.resources[current].dependencies if d in self.resources)
        return False

    def max_depth(self) -> int:
        memo: dict[str, int] = {}
        return max(self.depth(urn, memo) for urn in self.resources)


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outputs = dict(args.inputs)
        if "create_steps" in outputs:  # a RemoteScript: what the machine would print
            outputs["stdout"] = ""
            if args.name.endswith("-preflight"):
                outputs["stdout"] = PREFLIGHT_REPORT
            elif outputs.get("keep_stdout"):
                outputs["stdout"] = KUBECONFIG
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        return {}, None


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi.runtime.Mocks, recorded: Recorded) -> None:
        super().__init__(mocks)
        self.recorded = recorded

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC name
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            return response
        secret_paths: set[str] = set()
        inputs = _unwrap(pulumi_mocks.rpc.deserialize_properties(request.object), "", secret_paths)
        self.recorded.resources[response.urn] = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            dependencies=list(request.dependencies),
            inputs=inputs,
            secret_paths=secret_paths,
            secret_outputs=set(request.additionalSecretOutputs),
            protect=bool(request.protect),
            ignore_changes=list(request.ignoreChanges),
        )
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - gRPC name
        if request.urn in self.recorded.resources:
            outputs = _unwrap(pulumi_mocks.rpc.deserialize_properties(request.outputs), "", set())
            self.recorded.resources[request.urn].outputs = outputs
        return super().RegisterResourceOutputs(request)


def stack_settings(stack: str) -> dict[str, Any]:
    """The plain settings of the example stack Pulumi.<stack>.yaml."""
    return stack_file_settings(ROOT / f"Pulumi.{stack}.yaml")


def stack_file_settings(path: Path) -> dict[str, Any]:
    """The plain settings of a stack file, keyed without the namespace."""
    raw = yaml.safe_load(path.read_text())["config"]
    return {key.split(":", 1)[1]: value for key, value in raw.items()}


def namespaced(settings: dict[str, Any]) -> dict[str, Any]:
    """Plain settings keyed as a stack file keys them."""
    return {f"{PROJECT}:{key}": value for key, value in settings.items()}


def run_program(
    settings: dict[str, Any],
    secrets: dict[str, str] | None = None,
    stack: str = "dev",
    preview: bool = False,
    recorded: Recorded | None = None,
) -> tuple[Recorded, Any]:
    """Build the program with `settings` (plain) and `secrets`; return what was
    registered and the root component."""
    from components.program import build

    secrets = dict(DEFAULT_SECRETS) if secrets is None else secrets
    config = {f"{PROJECT}:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in settings.items()}
    config.update({f"{PROJECT}:{k}": v for k, v in secrets.items()})
    pulumi.runtime.set_all_config(config, [f"{PROJECT}:{k}" for k in secrets])
    recorded = Recorded() if recorded is None else recorded
    mocks = _Mocks()
    pulumi.runtime.set_mocks(
        mocks, project=PROJECT, stack=stack, preview=preview, monitor=_RecordingMonitor(mocks, recorded)
    )
    holder: dict[str, Any] = {}

    def program() -> None:
        holder["cluster"] = build()

    _sync_await(run_pulumi_func(program))
    return recorded, holder.get("cluster")


def resolve(output: pulumi.Output[Any]) -> tuple[Any, bool]:
    """(value, is_secret) of an Output, under mocks."""
    value = _sync_await(output.future())
    secret = _sync_await(output.is_secret())
    return value, secret


def with_nodes(settings: dict[str, Any], nodes: list[dict[str, Any]]) -> dict[str, Any]:
    changed = copy.deepcopy(settings)
    changed["nodes"] = nodes
    return changed
