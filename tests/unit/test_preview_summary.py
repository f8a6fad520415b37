"""tools.preview_summary on inputs shaped like pulumi v3.184's JSON output.

The builders below follow what the engine writes (pkg/backend/display/json.go
for the digest, apitype.EngineEvent for event streams); field order and the
always-present `"detailedDiff": null` are kept so the fixtures read like the
real thing.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tools import preview_summary
from tools.preview_summary import STACK_ROW, component_of, parse, render

PREFIX = "urn:pulumi:dev::runai-cluster::"
CLUSTER = "runai-cluster:cluster:Cluster"
NODE_PREP = "runai-cluster:nodes:NodePrep"
BACKEND = "runai-cluster:runai:Backend"
GPU_OPERATOR = "runai-cluster:gpu:GpuOperator"
K8S_PROVIDER = PREFIX + "pulumi:providers:kubernetes::k8s::0f5e1b9c-8d7a-4c1e-9f63-2b8a4c7d1e10"


def urn(*types: str, name: str) -> str:
    return f"{PREFIX}{'$'.join(types)}::{name}"


STACK = urn("pulumi:pulumi:Stack", name="runai-cluster-dev")
CP_PREP = urn(CLUSTER, NODE_PREP, "pulumi-python:dynamic:Resource", name="cp-1-prep")
GPU_NODE = urn(CLUSTER, NODE_PREP, name="gpu-1")
GPU_PREP = urn(CLUSTER, NODE_PREP, "pulumi-python:dynamic:Resource", name="gpu-1-prep")
NAMESPACE = urn(CLUSTER, BACKEND, "kubernetes:core/v1:Namespace", name="runai")
CONFIG = urn(CLUSTER, BACKEND, "kubernetes:core/v1:ConfigMap", name="runai-config")
SECRET = urn(CLUSTER, BACKEND, "kubernetes:core/v1:Secret", name="runai-token")
CRD = urn(
    CLUSTER,
    GPU_OPERATOR,
    "kubernetes:helm.sh/v4:Chart",
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition",
    name="clusterpolicies.nvidia.com",
)
PVC = urn("kubernetes:core/v1:PersistentVolumeClaim", name="registry-data")
METRICS = urn("kubernetes:apps/v1:Deployment", name="metrics")


def type_of(resource_urn: str) -> str:
    return resource_urn.split("::")[2].split("$")[-1]


def state(resource_urn: str, *, protect: bool = False, retain: bool = False, **extra: Any) -> dict[str, Any]:
    """An apitype.ResourceV3 as the digest serialises it."""
    custom = not type_of(resource_urn).startswith(("runai-cluster:", "pulumi:pulumi:"))
    out: dict[str, Any] = {"urn": resource_urn, "custom": custom}
    if custom:
        out["id"] = resource_urn.rsplit("::", 1)[1]
    out["type"] = type_of(resource_urn)
    out["inputs"] = {"metadata": {"name": resource_urn.rsplit("::", 1)[1]}}
    if "$" in resource_urn:
        parent_types = resource_urn.split("::")[2].split("$")[:-1]
        out["parent"] = f"{PREFIX}{'$'.join(parent_types)}::parent"
    if protect:
        out["protect"] = True
    if custom:
        out["provider"] = K8S_PROVIDER
    if retain:
        out["retainOnDelete"] = True
    out.update(extra)
    return out


def step(op: str, resource_urn: str, *, protect: bool = False, retain: bool = False, **extra: Any) -> dict[str, Any]:
    """A display.PreviewStep: oldState for ops on existing resources, newState for the rest."""
    out: dict[str, Any] = {"op": op, "urn": resource_urn}
    if type_of(resource_urn) != "pulumi:pulumi:Stack":
        out["provider"] = K8S_PROVIDER
    if op != "create":
        out["oldState"] = state(resource_urn, protect=protect, retain=retain)
    if op != "delete":
        out["newState"] = state(resource_urn, protect=protect)
    out.update(extra)
    out["detailedDiff"] = None
    return out


def digest(*, diagnostics: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "config": {"runai-cluster:clusterName": "lab", "runai-cluster:sshKey": "[secret]"},
        "steps": [
            step("same", STACK),
            step("update", CP_PREP, diffReasons=["script"]),
            step("create", GPU_NODE),
            step("create", GPU_PREP),
            step("replace", NAMESPACE, replaceReasons=["metadata"]),
            step("delete", CONFIG, protect=True),
            step("delete", SECRET),
            step("delete", CRD),
            step("delete", PVC, retain=True),
            step("update", METRICS, diffReasons=["spec"]),
        ],
        "diagnostics": diagnostics
        if diagnostics is not None
        else [
            {
                "urn": CONFIG,
                "message": f'error: Preview failed: resource "{CONFIG}" cannot be deleted\n'
                "because it is protected. To unprotect the resource, either remove the `protect` flag "
                "from the resource in your Pulumi program and run `pulumi up`, or use the command:\n"
                f"`pulumi state unprotect '{CONFIG}'`\n",
                "severity": "error",
            },
            {"message": "error: preview failed\n", "severity": "error"},
        ],
        "duration": 2315008417,
        "changeSummary": {"create": 2, "delete": 3, "replace": 1, "same": 41, "update": 2},
    }


# Engine events -----------------------------------------------------------------


class Events:
    """Builds an apitype.EngineEvent stream, sequence numbers included."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, **payload: Any) -> None:
        self.events.append({"sequence": len(self.events), "timestamp": 1795374260, **payload})

    def resource(self, op: str, resource_urn: str, *, protect: bool = False, outputs_op: str | None = None) -> None:
        def metadata(op_: str) -> dict[str, Any]:
            old = None if op_ == "create" else self._meta_state(resource_urn, protect)
            new = None if op_ in ("delete", "delete-replaced") else self._meta_state(resource_urn, protect)
            return {
                "op": op_,
                "urn": resource_urn,
                "type": type_of(resource_urn),
                "old": old,
                "new": new,
                "detailedDiff": None,
                "provider": K8S_PROVIDER,
            }

        self.add(resourcePreEvent={"metadata": metadata(op), "planning": True})
        self.add(resOutputsEvent={"metadata": metadata(outputs_op or op), "planning": True})

    @staticmethod
    def _meta_state(resource_urn: str, protect: bool) -> dict[str, Any]:
        """apitype.StepEventStateMetadata."""
        out: dict[str, Any] = {"type": type_of(resource_urn), "urn": resource_urn, "id": "", "parent": ""}
        if protect:
            out["protect"] = True
        return out | {"inputs": {}, "outputs": {}, "provider": K8S_PROVIDER}

    def diag(self, severity: str, message: str, urn_: str = "") -> None:
        payload = {"prefix": f"{severity}: " if severity in ("error", "warning", "debug") else "", "message": message}
        if urn_:
            payload = {"urn": urn_, **payload}
        self.add(diagnosticEvent=payload | {"color": "never", "severity": severity})

    def policy(self, level: str, name: str, message: str, urn_: str) -> None:
        self.add(
            policyEvent={
                "resourceUrn": urn_,
                "message": message,
                "color": "never",
                "policyName": name,
                "policyPackName": "runai-cluster-policy",
                "policyPackVersion": "0.0.1",
                "policyPackVersionTag": "0.0.1",
                "enforcementLevel": level,
            }
        )

    def text(self) -> str:
        # The engine's encoder writes one compact object per line.
        return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in self.events)


def event_stream(*, with_policy: bool = True) -> Events:
    ev = Events()
    ev.add(policyLoadEvent={})
    ev.add(preludeEvent={"config": {"runai-cluster:clusterName": "lab"}})
    ev.diag("debug", "registering resource: ty=pulumi:pulumi:Stack, name=runai-cluster-dev\n")
    ev.resource("same", STACK)
    # Default providers are internal: no display shows them.
    ev.resource("create", PREFIX + "pulumi:providers:kubernetes::default_4_25_0")
    ev.resource("update", CP_PREP)
    ev.resource("create", GPU_NODE)
    ev.resource("create", GPU_PREP)
    if with_policy:
        ev.policy("advisory", "gpu-labels", "GPU nodes carry labels.\nnode gpu-1 has no accelerator label\n", GPU_NODE)
    # A replacement is three steps in an event stream; the digest shows one.
    ev.resource("create-replacement", NAMESPACE)
    ev.resource("replace", NAMESPACE)
    ev.resource("same", urn(CLUSTER, BACKEND, name="runai"))
    if with_policy:
        ev.policy(
            "mandatory",
            "no-namespace-replace",
            "<{%reset%}>Namespaces are never replaced.\nnamespace runai would be replaced<{%reset%}>\n",
            NAMESPACE,
        )
    ev.resource("delete-replaced", NAMESPACE)
    ev.resource("delete", CONFIG, protect=True)
    ev.resource("delete", SECRET)
    ev.resource("delete", CRD)
    ev.resource("delete", PVC)
    ev.resource("update", METRICS)
    if with_policy:
        ev.policy("advisory", "stack-tags", "Stacks are tagged.\nstack has no owner tag\n", STACK)
        ev.diag("error", "preview failed\n")
    ev.diag("debug", "run_pulumi_func completed\n")
    ev.add(
        summaryEvent={
            "maybeCorrupt": False,
            "durationSeconds": 2,
            "resourceChanges": {"create": 2, "delete": 4, "replace": 1, "same": 41, "update": 2},
            "PolicyPacks": {"runai-cluster-policy|local|policy": "0.0.1"},
        }
    )
    ev.add(cancelEvent={})
    return ev


# Helpers -----------------------------------------------------------------------


def table(markdown: str) -> dict[str, list[int]]:
    """Component rows of the change table: label -> [create, update, replace, delete]."""
    rows: dict[str, list[int]] = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"\**\d+\**", cells[1]):
            rows[cells[0].strip("`*")] = [int(c.strip("*")) for c in cells[1:]]
    return rows


EXPECTED_TABLE = {
    STACK_ROW: [0, 1, 0, 1],
    NODE_PREP: [2, 1, 0, 0],
    BACKEND: [0, 0, 1, 2],
    GPU_OPERATOR: [0, 0, 0, 1],
    "Total": [2, 2, 1, 4],
}


def section(markdown: str, heading: str) -> str:
    """The text under the first '### ' heading that starts with `heading`."""
    match = re.search(rf"^### {re.escape(heading)}.*?(?=^### |\Z)", markdown, re.M | re.S)
    assert match, f"no section {heading!r} in:\n{markdown}"
    return match.group(0)


# Tests ------------------------------------------------------------------------


def test_component_is_the_nearest_of_ours_in_the_type_chain() -> None:
    example = (
        "urn:pulumi:dev::runai-cluster::runai-cluster:cluster:Cluster$runai-cluster:nodes:NodePrep"
        "$pulumi-python:dynamic:Resource::cp-1-prep"
    )
    assert component_of(example) == NODE_PREP
    assert component_of(CRD) == GPU_OPERATOR  # the helm Chart in between is not ours
    assert component_of(GPU_NODE) == NODE_PREP  # a component's own step is its own row
    assert component_of(PVC) == STACK_ROW
    assert component_of(STACK) == STACK_ROW
    assert component_of("not-a-urn") == STACK_ROW


def test_digest_table_counts_per_component() -> None:
    markdown = render(parse(json.dumps(digest(), indent=4)))
    assert markdown.startswith("## Pulumi preview: `dev`\n")
    assert table(markdown) == EXPECTED_TABLE
    assert "**2 to create · 2 to update · 1 to replace · 4 to delete · 41 unchanged**" in markdown
    # (stack) comes first, then components by name.
    assert list(table(markdown))[:2] == [STACK_ROW, GPU_OPERATOR]


def test_protected_deletes_are_called_out() -> None:
    markdown = render(parse(json.dumps(digest())))
    danger = section(markdown, "🚨 Deletes of protected objects (4)")
    assert "[!CAUTION]" in danger
    rows = {line.split("|")[2].strip(): line for line in danger.splitlines() if line.startswith("| **")}
    assert set(rows) == {
        "`runai` (`kubernetes:core/v1:Namespace`)",
        "`runai-config` (`kubernetes:core/v1:ConfigMap`)",
        "`clusterpolicies.nvidia.com` (`kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition`)",
        "`registry-data` (`kubernetes:core/v1:PersistentVolumeClaim`)",
    }
    assert rows["`runai` (`kubernetes:core/v1:Namespace`)"].startswith("| **replace** |")
    assert "protect: true" in rows["`runai-config` (`kubernetes:core/v1:ConfigMap`)"]
    assert "retainOnDelete" in rows["`registry-data` (`kubernetes:core/v1:PersistentVolumeClaim`)"]
    assert "runai-token" not in danger  # an unprotected Secret is an ordinary delete
    # The callout comes before the policy and diagnostics sections.
    assert markdown.index("Deletes of protected objects") < markdown.index("### Policy violations")


def test_no_callout_without_dangerous_deletes() -> None:
    doc = digest(diagnostics=[])
    doc["steps"] = [s for s in doc["steps"] if s["urn"] in (STACK, CP_PREP, SECRET)]
    markdown = render(parse(json.dumps(doc)))
    assert "Deletes of protected objects" not in markdown
    assert "Errors and warnings" not in markdown


def test_digest_says_it_cannot_know_policy_violations() -> None:
    markdown = render(parse(json.dumps(digest())))
    policy = section(markdown, "Policy violations")
    assert "leaves policy events out" in policy and "PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true" in policy
    assert "mandatory violation is one possible cause" in policy
    errors = section(markdown, "Errors and warnings")
    assert "- **error** `runai-config` (`kubernetes:core/v1:ConfigMap`): Preview failed: resource" in errors
    assert "- **error** preview failed" in errors


def test_event_stream_gives_the_same_table_and_lists_violations_mandatory_first() -> None:
    markdown = render(parse(event_stream().text()))
    assert table(markdown) == EXPECTED_TABLE
    policy = section(markdown, "Policy violations (1 mandatory, 2 advisory)")
    rows = [line for line in policy.splitlines() if line.startswith("| ") and line.count("---") == 0][1:]
    assert rows[0].startswith("| ❌ **mandatory** | `runai-cluster-policy/no-namespace-replace` | `runai`")
    assert "Namespaces are never replaced. — namespace runai would be replaced |" in rows[0]
    assert "<{%" not in policy
    assert [r.split("|")[2].strip() for r in rows[1:]] == [
        "`runai-cluster-policy/gpu-labels`",
        "`runai-cluster-policy/stack-tags`",
    ]
    assert "`runai-cluster-dev` (`pulumi:pulumi:Stack`)" in rows[2]
    # Debug chatter stays out; the engine's own error stays in.
    assert "run_pulumi_func" not in markdown
    assert "- **error** preview failed" in markdown


def test_event_stream_without_violations_says_so() -> None:
    markdown = render(parse(event_stream(with_policy=False).text()))
    assert "No policy violations (runai-cluster-policy)." in section(markdown, "Policy violations")


def test_event_stream_without_policy_packs_says_none_ran() -> None:
    ev = event_stream(with_policy=False)
    ev.events = [e for e in ev.events if "policyLoadEvent" not in e]
    ev.events[-2]["summaryEvent"]["PolicyPacks"] = {}
    markdown = render(parse(ev.text()))
    assert "No policy pack ran in this preview." in section(markdown, "Policy violations")


def test_refresh_drift_counts_as_the_change_it_implies() -> None:
    ev = Events()
    ev.resource("refresh", METRICS, outputs_op="update")
    ev.resource("refresh", SECRET, outputs_op="delete")
    ev.resource("refresh", CONFIG, outputs_op="same")
    assert table(render(parse(ev.text())))[STACK_ROW] == [0, 1, 0, 0]
    assert table(render(parse(ev.text())))[BACKEND] == [0, 0, 0, 1]


def test_cli_merges_policy_events_into_a_digest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "preview.json").write_text(json.dumps(digest(), indent=4))
    (tmp_path / "events.json").write_text(event_stream().text())
    rc = preview_summary.main([str(tmp_path / "preview.json"), "--events", str(tmp_path / "events.json")])
    out = capsys.readouterr().out
    assert rc == 0  # violations are reported, never turned into a failure here
    assert table(out) == EXPECTED_TABLE
    assert "### Policy violations (1 mandatory, 2 advisory)" in out


def test_cli_reads_stdin_and_takes_a_title(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(digest())))
    assert preview_summary.main(["--title", "prod preview"]) == 0
    assert capsys.readouterr().out.startswith("## prod preview\n")


def test_no_changes() -> None:
    doc = {"steps": [step("same", STACK)], "duration": 1, "changeSummary": {"same": 12}}
    markdown = render(parse(json.dumps(doc)))
    assert "**12 unchanged**" in markdown and "No resource changes." in markdown


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "the input is empty"),
        ("error: no stack named 'dev' found\n", "line 1 is not JSON"),
        ('{"steps": [{"op": "create"}]}', "steps[0] has no string 'op' and 'urn'"),
        ('{"steps": {}}', "'steps' is not a list"),
        ('{"hello": "world"}', "neither a preview digest nor engine events"),
        ("[1, 2]", "neither a preview digest nor engine events"),
        ('{"a": 1}\n{"b": 2}\n', "not Pulumi engine events"),
        ('{"steps": [], "diagnostics": ["oops"]}', "unexpected structure"),
        ('{"changeSummary": {"create": "many"}}', "unexpected structure"),
    ],
)
def test_unparseable_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, reason: str
) -> None:
    path = tmp_path / "preview.json"
    path.write_text(text)
    assert preview_summary.main([str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"error: cannot parse pulumi preview JSON: {path}: ")
    assert reason in captured.err


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert preview_summary.main([str(tmp_path / "nope.json")]) == 2
    assert "nope.json: No such file or directory" in capsys.readouterr().err
