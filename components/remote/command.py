"""`RemoteScript`: a Pulumi resource that runs scripts on machines over SSH.

A resource has named SSH connections (one secret input: they carry the private
key) and create and delete steps. Each step runs one script on the machine of
one connection; scripts hold no secrets, so `pulumi preview --diff` shows
reviewers exactly what changes. A step may `capture` its standard output into an environment variable
for the steps after it (a fresh join command read from the first control plane,
say) without that value ever reaching the state. Changing the create steps or
the triggers re-runs the create steps in place: node scripts are idempotent, and
a replace would run the delete steps (drain, reset) on a healthy node.

`env` holds plain values the scripts read whose change alone re-runs nothing:
the Kubernetes version a machine is prepared and joined at. On a running
cluster that version moves only through the upgrade resources
(components/kubeadm/upgrade.py), so bumping it shows the rollout in a preview
and nothing else, while a machine prepared later gets the new version.

It is a dynamic provider because the pulumi-command plugin cannot be built
from the module proxy available to our CI; see docs/development.md."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pulumi
from pulumi import dynamic
from pydantic import Field

from components.providers import ProviderInputs
from components.remote.ssh import Connection, run_script
from stacks.cluster import upgrade_path_error


class RemoteScriptInputs(ProviderInputs):
    connections: str  # JSON: name -> SSH connection (secret: private keys)
    hosts: dict[str, str]  # user@address:port per connection
    create_steps: list[dict[str, Any]]
    # Left out of the resource's inputs while they hold their default: every
    # input is an Output of its own on the resource, and Outputs are what a
    # large program's evaluation spends its time on. State written when they
    # were always sent still holds them, and reads the same.
    delete_steps: list[dict[str, Any]] = Field(default_factory=list)
    triggers: list[Any] = Field(default_factory=list)
    keep_stdout: bool = False
    env: dict[str, str] = Field(default_factory=dict)
    run_on_create: bool = True
    kubernetes_version: str | None = None
    stdout: str = ""  # an output: what the last create step printed, with keep_stdout


# Computed once: asking pydantic for a factory's default inspects the
# factory's signature, which cost seconds over a 512-node program.
_DEFAULTS = {
    key: field.get_default(call_default_factory=True)
    for key, field in RemoteScriptInputs.model_fields.items()
    if not field.is_required()
}


# Inputs whose change re-runs the create steps (a new address or user too).
_RERUN_KEYS = ("create_steps", "triggers", "hosts")
# Stored without re-running anything: a new `env` alone (see above).
_NOT_COMPARED = {"stdout", "env"}


def run_steps(steps: list[dict[str, Any]], connections: str, env: dict[str, str] | None = None) -> str:
    """Run steps in order on `connections` (JSON: name -> connection), each
    with `env` exported; return the last step's standard output."""
    by_name = json.loads(connections)
    captured: dict[str, str] = {}
    stdout = ""
    for step in steps:
        connection = Connection.from_dict(by_name[step["on"]])
        stdout = run_script(connection, step["script"], captured, env).stdout
        if step.get("capture"):
            captured[step["capture"]] = stdout.strip()
    return stdout


def _outputs(props: dict[str, Any], given: RemoteScriptInputs, stdout: str) -> dict[str, Any]:
    # The inputs as they came (those at their default stay left out).
    return {**props, "stdout": stdout if given.keep_stdout else ""}


class RemoteScriptProvider(dynamic.ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        old_version = (olds or {}).get("kubernetes_version")
        new_version = news.get("kubernetes_version")
        if old_version and new_version:
            error = upgrade_path_error(old_version, new_version)
            if error:
                failures.append(dynamic.CheckFailure("kubernetes_version", f"cluster.kubernetesVersion: {error}"))
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        # A rotated private key alone is stored without re-running anything.
        # Keys only the old state holds (`name`, which was the ID) are not
        # inputs any more.
        old, new = RemoteScriptInputs.of(olds), RemoteScriptInputs.of(news)
        compared = RemoteScriptInputs.model_fields.keys() - _NOT_COMPARED
        changed = any(getattr(old, key) != getattr(new, key) for key in compared)
        return dynamic.DiffResult(changes=changed, replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        given = RemoteScriptInputs.of(props)
        stdout = run_steps(given.create_steps, given.connections, given.env) if given.run_on_create else ""
        # The URN names the resource; the ID only has to be unique.
        return dynamic.CreateResult(id_=uuid.uuid4().hex, outs=_outputs(props, given, stdout))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        old, new = RemoteScriptInputs.of(olds), RemoteScriptInputs.of(news)
        if any(getattr(old, key) != getattr(new, key) for key in _RERUN_KEYS):
            stdout = run_steps(new.create_steps, new.connections, new.env)
        else:
            stdout = old.stdout  # only delete steps or labels changed
        return dynamic.UpdateResult(outs=_outputs(news, new, stdout))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        given = RemoteScriptInputs.of(props)
        if given.delete_steps:
            run_steps(given.delete_steps, given.connections, given.env)


def as_json_object(members: dict[str, pulumi.Output[str]]) -> pulumi.Output[str]:
    """One JSON object from JSON members. Kept as a string on purpose: the SDK
    lifts every leaf of a dict Output into an Output of its own, which made a
    512-node program take minutes to evaluate."""
    names = list(members)
    return pulumi.Output.all(*members.values()).apply(
        lambda values: "{" + ",".join(f"{json.dumps(n)}:{v}" for n, v in zip(names, values, strict=True)) + "}"
    )


class RemoteScript(dynamic.Resource):
    """Runs `create_steps` (and `delete_steps` when removed) over SSH.

    `connections` is one JSON object mapping the names steps use to SSH
    connections (components/connection.py builds them, secret: they carry the
    private key); they and `stdout` (the last create step's output, kept only with `keep_stdout`) are
    stored as secrets (`stdout` in the clear with `secret_stdout=False`).
    `hosts` (user@address:port per connection, plain) makes a moved machine
    visible in diffs. With `run_on_create=False` the steps run only when an
    update asks for them (an upgrade: a machine joins at the current version).
    `kubernetes_version`, when given, is checked against the stored one: a
    downgrade or a skipped minor is refused in preview."""

    stdout: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        connections: pulumi.Output[str],
        hosts: dict[str, str],
        create_steps: list[dict[str, Any]],
        delete_steps: list[dict[str, Any]] | None = None,
        triggers: list[Any] | None = None,
        keep_stdout: bool = False,
        secret_stdout: bool = True,
        env: dict[str, str] | None = None,
        run_on_create: bool = True,
        kubernetes_version: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret = ["connections", "stdout"] if secret_stdout else ["connections"]
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=secret)
        given = {
            "delete_steps": delete_steps or [],
            "triggers": triggers or [],
            "keep_stdout": keep_stdout,
            "env": env or {},
            "run_on_create": run_on_create,
            "kubernetes_version": kubernetes_version,
        }
        props: dict[str, Any] = {
            "connections": connections,
            "hosts": hosts,
            "create_steps": create_steps,
            **{key: value for key, value in given.items() if value != _DEFAULTS[key]},
        }
        if keep_stdout:
            props["stdout"] = None  # an output: what the last create step printed
        super().__init__(RemoteScriptProvider(), name, props, pulumi.ResourceOptions.merge(secret_outputs, opts))


def step(
    name: str,
    on: str,
    script: str,
    *,
    capture: str | None = None,
) -> dict[str, Any]:
    """One step of a RemoteScript: `script` run on the connection named `on`."""
    return {
        "name": name,
        "on": on,
        "script": script,
        "capture": capture,
    }
