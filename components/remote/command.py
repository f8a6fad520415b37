"""`RemoteScript`: a Pulumi resource that runs scripts on machines over SSH.

A resource has create steps and delete steps. Each step runs one script on one
machine; a step may `capture` its standard output into an environment variable
for the steps after it (a fresh join command read from the first control plane,
say) without that value ever reaching the state. Changing the create steps or
the triggers re-runs the create steps in place: node scripts are idempotent, and
a replace would run the delete steps (drain, reset) on a healthy node.

It is a dynamic provider because the pulumi-command plugin cannot be built
from the module proxy available to our CI; see the README."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import dynamic

from components.remote.ssh import Connection, RemoteError, run_script

# Inputs whose change re-runs the create steps.
_RERUN_KEYS = ("create_steps", "triggers")


def run_steps(steps: list[dict[str, Any]]) -> str:
    """Run steps in order; return the last step's standard output."""
    captured: dict[str, str] = {}
    stdout = ""
    for step in steps:
        connection = Connection.from_dict(step["connection"])
        try:
            result = run_script(connection, step["script"], captured)
        except RemoteError:
            if step.get("ignore_failure"):
                pulumi.log.warn(f"{step.get('name', 'step')}: failed, continuing as configured")
                continue
            raise
        stdout = result.stdout
        if step.get("capture"):
            captured[step["capture"]] = stdout.strip()
    return stdout


def _outputs(props: dict[str, Any], stdout: str) -> dict[str, Any]:
    outs = dict(props)
    outs["stdout"] = stdout if props.get("keep_stdout") else ""
    return outs


class RemoteScriptProvider(dynamic.ResourceProvider):
    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> dynamic.CheckResult:
        failures = []
        old_version = (_olds or {}).get("kubernetes_version")
        new_version = news.get("kubernetes_version")
        if old_version and new_version and old_version != new_version:
            failures.append(
                dynamic.CheckFailure(
                    "kubernetes_version",
                    f"cluster.kubernetesVersion: changing {old_version} to {new_version} on a running "
                    "cluster is refused: it would reinstall packages on every node at once. Keep "
                    f"{old_version} until rolling upgrades are supported.",
                )
            )
        return dynamic.CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.DiffResult:
        changed = [key for key in news if key != "stdout" and olds.get(key) != news.get(key)]
        return dynamic.DiffResult(changes=bool(changed), replaces=[], delete_before_replace=False)

    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        stdout = run_steps(props["create_steps"])
        return dynamic.CreateResult(id_=props["name"], outs=_outputs(props, stdout))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> dynamic.UpdateResult:
        if any(olds.get(key) != news.get(key) for key in _RERUN_KEYS):
            stdout = run_steps(news["create_steps"])
        else:
            stdout = olds.get("stdout", "")  # only delete steps or labels changed
        return dynamic.UpdateResult(outs=_outputs(news, stdout))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        if props.get("delete_steps"):
            run_steps(props["delete_steps"])


class RemoteScript(dynamic.Resource):
    """Runs `create_steps` (and `delete_steps` when removed) over SSH.

    `stdout` holds the last create step's output when `keep_stdout` is set; it
    and every connection (private key included) are stored as secrets."""

    stdout: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        create_steps: pulumi.Input[list[Any]],
        delete_steps: pulumi.Input[list[Any]] | None = None,
        triggers: pulumi.Input[list[Any]] | None = None,
        keep_stdout: bool = False,
        kubernetes_version: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret_outputs = pulumi.ResourceOptions(additional_secret_outputs=["create_steps", "delete_steps", "stdout"])
        super().__init__(
            RemoteScriptProvider(),
            name,
            {
                "name": name,
                "create_steps": create_steps,
                "delete_steps": delete_steps or [],
                "triggers": triggers or [],
                "keep_stdout": keep_stdout,
                "kubernetes_version": kubernetes_version,
                "stdout": None,
            },
            pulumi.ResourceOptions.merge(secret_outputs, opts),
        )


def step(
    name: str,
    connection: pulumi.Input[dict[str, Any]],
    script: str,
    *,
    capture: str | None = None,
    ignore_failure: bool = False,
) -> dict[str, Any]:
    """One step of a RemoteScript: `script` run on `connection`."""
    return {
        "name": name,
        "connection": connection,
        "script": script,
        "capture": capture,
        "ignore_failure": ignore_failure,
    }
